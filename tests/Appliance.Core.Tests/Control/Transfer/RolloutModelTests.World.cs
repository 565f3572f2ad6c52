using System.Globalization;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;
using Appliance.Core.Net;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>The model: agents, the transfer's world, and a poll, a rollback and an abandon run the way
/// TransferRole and ReplicaRollout run them, through the real RolloutPlan and RolloutSteps.</summary>
public sealed partial class RolloutModelTests
{
    /// <summary>One agent as the transfer sees it: what it serves, what it holds on disk, what its
    /// merges folded away, whether it answers.</summary>
    private sealed class Agent
    {
        public string? Live { get; set; }

        public HashSet<string> Holds { get; } = [];

        public HashSet<string> Folded { get; } = [];

        public int DownPolls { get; set; }

        public Queue<Fault> Faults { get; } = [];

        /// <summary>One call: false when it failed; <paramref name="effect"/> runs when the agent
        /// did it (even if its reply was too late).</summary>
        public bool Call(Func<bool> effect)
        {
            if (DownPolls > 0)
            {
                return false;
            }

            if (!Faults.TryDequeue(out var fault))
            {
                return effect();
            }

            if (fault == Fault.LateReply)
            {
                effect();
            }

            return false;
        }
    }

    /// <summary>The transfer as the model sees it: the persisted state, the donefile lines, the clock, the agents.</summary>
    private sealed class World(Rules rules, TransferOptions options)
    {
        public Rules Rules { get; } = rules;

        public TransferOptions Options { get; set; } = options;

        public TransferState State { get; set; } = new();

        public List<DonefileEntry> Bases { get; } = [];

        public List<DonefileEntry> Patches { get; } = [];

        public Agent[,] Agents { get; } = NewAgents();

        public long Now { get; set; } = 1_000;

        /// <summary>A broken invariant seen inside an agent (checked with the others after the event).</summary>
        public string? Violation { get; set; }

        private ulong _nextId = 100;

        public string NewId() => (_nextId += 1).ToString(CultureInfo.InvariantCulture);

        public Agent Of(InstanceRecord instance) => Agents[instance.Shard, instance.Replica];

        public IEnumerable<Agent> All => Agents.Cast<Agent>();

        public (IReadOnlyList<DonefileEntry> Bases, IReadOnlyList<DonefileEntry> Patches) Kept(List<InputFormatException> errors)
        {
            var abandoned = State.History.Where(v => v.Status == VersionStatus.Abandoned).Select(v => v.Label).ToHashSet(StringComparer.Ordinal);
            return (RolloutPlan.Monotonic(Bases, "base.txt", errors, abandoned, isBase: true), RolloutPlan.Monotonic(Patches, "patch.txt", errors, abandoned, isBase: false));
        }

        private static Agent[,] NewAgents()
        {
            var agents = new Agent[Shards, Replicas];
            for (var s = 0; s < Shards; s++)
            {
                for (var r = 0; r < Replicas; r++)
                {
                    agents[s, r] = new Agent();
                }
            }

            return agents;
        }
    }

    /// <summary>The transfer.conf a sequence runs under: down_policy skip or wait, retain_versions
    /// 0 (keep all), 2 or 3, retain_lineages 1 or 2.</summary>
    private static TransferOptions OptionsFor(int draw) => new()
    {
        DictName = "d",
        DonefileAddress = "donefile",
        OutputAddress = "output",
        TmpAddress = "tmp",
        ShardNum = Shards,
        CopyNum = Replicas,
        Agents = [.. Enumerable.Range(0, Shards).Select(s => (IReadOnlyList<NodeAddress>)[.. Enumerable.Range(0, Replicas).Select(r => new NodeAddress("127.0.0.1", 9000 + (10 * s) + r))])],
        DownPolicy = draw % 2 == 0 ? "skip" : "wait",
        RetainVersions = (draw / 2 % 3) switch { 0 => 0, 1 => 2, _ => 3 },
        RetainLineages = 1 + (draw / 6 % 2),
        MaxAttempts = 2,
    };

    /// <summary>One poll as TransferRole runs it: donefile problems and orphans recorded, lagging
    /// replicas caught up, the decision checked and taken up, then built, staged, activated.</summary>
    private static string? PollOnce(World world, Poll poll)
    {
        foreach (var agent in world.All.Where(a => a.DownPolls > 0))
        {
            agent.DownPolls--;
        }

        var state = world.State;
        var pinnedAt = state.Pinned is null ? null : state.Current;
        var switching = state.History.FirstOrDefault(v => v.Status == VersionStatus.Enabling)?.Label;
        var errors = new List<InputFormatException>();
        var (bases, patches) = world.Kept(errors);
        RolloutSteps.Unreported(state, errors);
        RolloutSteps.RecordOrphans(state, bases, patches, world.Options, world.Now);
        CatchUp(world);
        var decision = world.Rules.Next(state.Pinned, state.Current, state.History, bases, patches, world.Now);
        var replayed = TransferStateStore.Read(new TransferStateStore("unused").Serialize(state));
        var again = world.Rules.Next(replayed.Pinned, replayed.Current, replayed.History, bases, patches, world.Now);
        if (again.Step != decision.Step || Label(again) != Label(decision))
        {
            return $"the persisted state replayed decides {again.Step} {Label(again)}, the live one {decision.Step} {Label(decision)}";
        }

        if (Broken(state, bases, patches, world.Now, decision) is { } broken)
        {
            return broken;
        }

        var deployed = Deploy(world, RolloutSteps.Begin(state, decision, world.Options, world.Now), poll);
        if (pinnedAt is not null && state.Current != pinnedAt && state.Current != switching)
        {
            return $"pinned at {pinnedAt}, yet {state.Current} went live";
        }

        return deployed;
    }

    /// <summary>TransferRole.DeployAsync with ReplicaRollout's stage and activate.</summary>
    private static string? Deploy(World world, VersionRecord? version, Poll poll)
    {
        if (version is null)
        {
            return null;
        }

        var state = world.State;
        if (state.History.Count(v => !v.IsSettled) > 1)
        {
            return $"two versions in progress: {string.Join(", ", state.History.Where(v => !v.IsSettled).Select(v => v.Label))}";
        }

        if (version.Status != VersionStatus.Enabling && !BuildAndStage(world, version, poll))
        {
            return null;
        }

        if (poll.Kill == 2)
        {
            // Killed after the first agent switched, before the transfer saved that it did.
            var first = version.Instances.First(i => i.StatusId.HasVersion());
            world.Of(first).Call(() => Switch(world, version, first.Shard, first.Replica));
            return null;
        }

        if (ActivateAll(world, version) is { } failed)
        {
            RolloutSteps.Fail(version, failed, world.Now);
            return null;
        }

        if (ServedOnEveryShard(world, version.Label) is { } notServed)
        {
            return notServed;
        }

        RolloutSteps.Finish(state, version, world.Now);
        if (version.IsBase)
        {
            foreach (var old in RolloutPlan.ToRetire(state.History, version, world.Options.RetainLineages))
            {
                Retire(world, old);
            }
        }

        return null;
    }

    /// <summary>TransferRole.BuildAndStageAsync: true when activation may start.</summary>
    private static bool BuildAndStage(World world, VersionRecord version, Poll poll)
    {
        version.Built = true;
        version.Set(VersionStatus.Staging);
        foreach (var instance in version.Instances.Where(i => !i.StatusId.HasVersion()))
        {
            Stage(world, version, instance);
            if (poll.Kill == 1)
            {
                return false; // killed after one replica: resumed at the next poll
            }
        }

        if (RolloutSteps.StageVerdict(version, world.Options) is { } problem)
        {
            RolloutSteps.Fail(version, problem, world.Now);
            return false;
        }

        if (poll.PinWhileStaging)
        {
            RolloutSteps.Pin(world.State, world.Now);
        }

        return RolloutSteps.StartActivating(world.State, version);
    }

    /// <summary>ReplicaRollout.StageAsync: max_attempts calls; skipped under down_policy skip.</summary>
    private static void Stage(World world, VersionRecord version, InstanceRecord instance)
    {
        var agent = world.Of(instance);
        for (var attempt = 0; attempt < world.Options.MaxAttempts; attempt++)
        {
            if (agent.Call(() =>
            {
                agent.Holds.Add(version.Label);
                return true;
            }))
            {
                instance.Set(InstanceStatus.Staged);
                return;
            }

            instance.Set(InstanceStatus.StageFailed, "agent failed");
        }

        if (world.Options.DownPolicy == "skip")
        {
            instance.Set(InstanceStatus.Skipped, instance.Error);
        }
    }

    /// <summary>An agent switching to a version it holds, folding the versions of its lineage
    /// older than the transfer's retain_versions floor. False when it does not hold it.</summary>
    private static bool Switch(World world, VersionRecord version, int shard, int replica)
    {
        var agent = world.Agents[shard, replica];
        if (!agent.Holds.Contains(version.Label))
        {
            return false;
        }

        if (world.State.History.Any(v => v.Label == version.Label && v.Status == VersionStatus.Abandoned))
        {
            world.Violation ??= $"the abandoned {version.Label} is activated on {shard}/{replica}";
        }

        agent.Live = version.Label;
        if (RolloutPlan.RetainFrom(world.State.History, version, world.Options.RetainVersions) is { } floor)
        {
            foreach (var old in agent.Holds.Where(l => l.StartsWith(version.Depend + "_", StringComparison.Ordinal) && VersionId.Compare(l[(version.Depend.Length + 1)..], floor) < 0).ToList())
            {
                agent.Holds.Remove(old);
                agent.Folded.Add(old);
            }
        }

        return true;
    }

    /// <summary>ReplicaRollout.ActivateAsync: up to three calls.</summary>
    private static void Activate(World world, VersionRecord version, InstanceRecord instance)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (world.Of(instance).Call(() => Switch(world, version, instance.Shard, instance.Replica)))
            {
                instance.Set(InstanceStatus.Active);
                return;
            }

            instance.Set(InstanceStatus.ActivateFailed, "agent failed");
        }
    }

    /// <summary>ReplicaRollout.ActivateAllAsync.</summary>
    private static string? ActivateAll(World world, VersionRecord version)
    {
        foreach (var instance in version.Instances.Where(i => i.StatusId.HasVersion()).ToList())
        {
            Activate(world, version, instance);
        }

        var missing = world.Rules.ShardsNotActive(version, world.Options.ShardNum);
        if (missing.Count == 0)
        {
            return null;
        }

        var previous = RolloutPlan.Live(world.State);
        foreach (var (switched, back) in RolloutSteps.ToSwitchBack(version, previous))
        {
            Activate(world, previous!, back);
            switched.Set(InstanceStatus.Staged, "rolled back");
        }

        RolloutSteps.Unconfirmed(version, previous);
        return RolloutSteps.ActivationProblem(version, missing, previous);
    }

    /// <summary>ReplicaRollout.CatchUpAsync.</summary>
    private static void CatchUp(World world)
    {
        if (RolloutPlan.Live(world.State) is not { } current)
        {
            return;
        }

        var lineage = RolloutPlan.CatchUpLineage(world.State.History, current);
        foreach (var instance in current.Instances.Where(i => i.StatusId != InstanceStatus.Active).ToList())
        {
            var agent = world.Of(instance);
            string? live = null;
            if (!agent.Call(() =>
            {
                live = agent.Live;
                return true;
            }))
            {
                continue;
            }

            if (live != current.Label)
            {
                foreach (var step in lineage)
                {
                    var stepInstance = step.Instances.First(i => i.Shard == instance.Shard && i.Replica == instance.Replica);
                    if (!stepInstance.StatusId.HasVersion() || step == current)
                    {
                        Stage(world, step, stepInstance);
                    }
                }

                Activate(world, current, instance);
            }
            else
            {
                instance.Set(InstanceStatus.Active);
            }
        }
    }

    /// <summary>ReplicaRollout.RetireEverywhereAsync: an agent that answers and does not serve it deletes it.</summary>
    private static void Retire(World world, VersionRecord version)
    {
        foreach (var agent in world.All)
        {
            agent.Call(() => agent.Live != version.Label && agent.Holds.Remove(version.Label));
        }
    }

    /// <summary>TransferRole.RollbackAsync: to a version of the history (or the default).</summary>
    private static string? RollbackOnce(World world, int choice)
    {
        var state = world.State;
        var history = state.History;
        var label = choice % (history.Count + 1) == history.Count ? null : history[choice % (history.Count + 1)].Label;
        if (RolloutPlan.RollbackTarget(state, label, world.Options.RetainVersions, out _) is not var (live, target))
        {
            return null;
        }

        if (!target.WasActive)
        {
            return $"rollback to {target.Label}, which never reached every shard";
        }

        if (world.All.FirstOrDefault(a => a.Folded.Contains(target.Label)) is not null)
        {
            return $"rollback to {target.Label} accepted, but an agent folded it into its base (retain_versions {world.Options.RetainVersions})";
        }

        RolloutSteps.PrepareRollback(target);
        if (ActivateAll(world, target) is { } problem)
        {
            RolloutSteps.RollbackFailed(live, target, problem, world.Now);
            return null;
        }

        RolloutSteps.RolledBack(state, live, target, world.Now);
        return ServedOnEveryShard(world, target.Label);
    }

    /// <summary>TransferRole.AbandonAsync: a version of the history or a donefile line.</summary>
    private static void AbandonOnce(World world, int choice)
    {
        var state = world.State;
        var lines = world.Bases.Concat(world.Patches).Where(e => state.History.All(v => v.Label != VersionInfo.DirectoryName(e.Key, e.Id))).ToList();
        var count = state.History.Count + lines.Count;
        if (count == 0)
        {
            return;
        }

        var record = choice % count < state.History.Count ? state.History[choice % count] : RolloutSteps.NewVersion(lines[(choice % count) - state.History.Count], world.Options, world.Now, replicas: false);
        if (record.Status != VersionStatus.Abandoned && RolloutSteps.Abandon(state, record, world.Now) is null)
        {
            Retire(world, record);
        }
    }
}
