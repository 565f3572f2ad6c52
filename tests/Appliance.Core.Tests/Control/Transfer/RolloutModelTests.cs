using System.Globalization;
using Appliance.Core.Client;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;
using Appliance.Core.Net;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>
/// Model-based tests of the rollout's pure core (<see cref="RolloutPlan"/> decides,
/// <see cref="RolloutSteps"/> applies) against a model of 2 shards × 2 replicas of agents. Random
/// sequences of events — donefile lines good and bad (ids going backwards, a base whose id is not
/// its key, patches of a base no line has), polls, kills mid-staging and mid-activation, restarts
/// from the persisted state, the clock, agents down for some polls, refusing a call or answering
/// after the time limit (the call took effect), operator pin, unpin, rollback and abandon — are
/// run the way TransferRole runs them, with the agents folding old patches (retain_versions) and
/// deleting retired lineages. Invariants are checked after every event; at the end the operator
/// lets go, every agent comes back, and the newest line must be live on every replica. A failing
/// sequence is shrunk (events dropped one at a time while it still fails) and printed.
/// </summary>
public sealed class RolloutModelTests
{
    private const int Sequences = 3000;
    private const int EventsPerSequence = 60;
    private const int Shards = 2;
    private const int Replicas = 2;

    private delegate RolloutPlan.Decision Planner(string? pinned, string? current, IReadOnlyList<VersionRecord> history, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now);

    /// <summary>The rules under test; the tests below swap one for a broken one to show the checker catches it.</summary>
    private sealed record Rules(Planner Next, Func<VersionRecord, int, List<int>> ShardsNotActive)
    {
        public static readonly Rules Real = new(RolloutPlan.Next, RolloutSteps.ShardsNotActive);
    }

    [Fact]
    public void EveryRandomSequenceKeepsTheInvariants()
    {
        for (var seed = 0; seed < Sequences; seed++)
        {
            var events = Generate(new Random(seed));
            if (Check(events, Rules.Real) is { } failure)
            {
                Assert.Fail($"seed {seed}: {Describe(Shrink(events, Rules.Real), Rules.Real)}\n(first failure before shrinking: {failure})");
            }
        }
    }

    /// <summary>A planner that jumps to the newest patch of the base (skipping the ones between)
    /// is caught, and the sequence shrinks to a handful of events.</summary>
    [Fact]
    public void APlannerThatSkipsPatchesIsCaughtAndShrunk()
    {
        RolloutPlan.Decision SkipsPatches(string? pinned, string? current, IReadOnlyList<VersionRecord> history, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now)
        {
            var decision = RolloutPlan.Next(pinned, current, history, bases, patches, now);
            if (decision.Step == RolloutPlan.Step.New && !decision.Entry!.IsBase)
            {
                var newest = patches.Where(p => p.Key == decision.Entry.Key).MaxBy(p => p.IdNumber)!;
                return history.Any(v => v.Version == newest.Id && v.Depend == newest.Key) ? decision : decision with { Entry = newest };
            }

            return decision;
        }

        AssertCaughtAndShrunk(Rules.Real with { Next = SkipsPatches }, "skipped", maxEvents: 6);
    }

    /// <summary>An activation verdict that counts one shard only (a version finished while the
    /// other shard's replicas all refused it) is caught: a shard would serve nothing of the live version.</summary>
    [Fact]
    public void AnActivationVerdictThatForgetsAShardIsCaughtAndShrunk()
    {
        static List<int> FirstShardOnly(VersionRecord version, int shardNum) => RolloutSteps.ShardsNotActive(version, 1);
        AssertCaughtAndShrunk(Rules.Real with { ShardsNotActive = FirstShardOnly }, "no replica of shard", maxEvents: 8);
    }

    private static void AssertCaughtAndShrunk(Rules broken, string expected, int maxEvents)
    {
        var failing = Enumerable.Range(0, Sequences).Select(seed => Generate(new Random(seed))).FirstOrDefault(e => Check(e, broken) is not null);
        Assert.NotNull(failing);
        var shrunk = Shrink(failing, broken);
        Assert.True(shrunk.Count <= maxEvents, Describe(shrunk, broken));
        Assert.Contains(expected, Check(shrunk, broken), StringComparison.Ordinal);
    }

    private enum Fault
    {
        /// <summary>Refuses (a bad checksum, a full disk): nothing happened.</summary>
        Refuse,

        /// <summary>Did it, but the reply came after the transfer's time limit: it counts as failed.</summary>
        LateReply,
    }

    private abstract record Event;

    /// <summary>First in every sequence: the transfer.conf it runs under (<see cref="OptionsFor"/>).</summary>
    private sealed record Configure(int Draw) : Event;

    private sealed record AddBase(bool Valid) : Event;

    /// <summary>A patch of the newest base (or, <paramref name="Orphan"/>, of a base no line has);
    /// not <paramref name="Valid"/>: an id older than the last patch of that base.</summary>
    private sealed record AddPatch(bool Valid, bool Orphan) : Event;

    /// <summary>A poll; <paramref name="Kill"/>: the transfer dies during staging (1) or
    /// activation (2) of what it deploys; <paramref name="PinWhileStaging"/>: an operator pins meanwhile.</summary>
    private sealed record Poll(int Kill = 0, bool PinWhileStaging = false) : Event;

    private sealed record Tick(int Seconds) : Event;

    private sealed record Pin : Event;

    private sealed record Unpin : Event;

    private sealed record Rollback(int Choice) : Event;

    private sealed record Abandon(int Choice) : Event;

    private sealed record Restart : Event;

    private sealed record AgentDown(int Shard, int Replica, int Polls) : Event;

    private sealed record AgentFault(int Shard, int Replica, Fault Fault) : Event;

    private static List<Event> Generate(Random random)
    {
        var events = new List<Event> { new Configure(random.Next(12)), new AddBase(true) };
        for (var i = 2; i < EventsPerSequence; i++)
        {
            events.Add(random.Next(100) switch
            {
                < 8 => new AddBase(random.Next(6) > 0),
                < 28 => new AddPatch(random.Next(8) > 0, random.Next(12) == 0),
                < 60 => new Poll(random.Next(10) switch { 0 => 1, 1 => 2, _ => 0 }, random.Next(20) == 0),
                < 66 => new Tick(random.Next(1, 60)),
                < 69 => new Pin(),
                < 73 => new Unpin(),
                < 78 => new Rollback(random.Next(1000)),
                < 82 => new Abandon(random.Next(1000)),
                < 86 => new Restart(),
                < 93 => new AgentDown(random.Next(Shards), random.Next(Replicas), random.Next(1, 4)),
                _ => new AgentFault(random.Next(Shards), random.Next(Replicas), (Fault)random.Next(2)),
            });
        }

        return events;
    }

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

    /// <summary>Runs <paramref name="events"/>; the first broken invariant, or null.</summary>
    private static string? Check(List<Event> events, Rules rules)
    {
        var world = new World(rules, OptionsFor(0));
        for (var i = 0; i < events.Count; i++)
        {
            if ((Apply(world, events[i]) ?? Invariants(world)) is { } broken)
            {
                return $"event {i} ({events[i]}): {broken}";
            }
        }

        // The operator lets go, the agents come back, every call succeeds: the newest kept line is
        // reached, on every replica.
        world.State.Pinned = null;
        foreach (var agent in world.All)
        {
            agent.DownPolls = 0;
            agent.Faults.Clear();
        }

        for (var polls = 0; polls < 200; polls++)
        {
            world.Now += 600;
            var before = Fingerprint(world);
            if ((PollOnce(world, new Poll()) ?? Invariants(world)) is { } broken)
            {
                return $"settling, poll {polls}: {broken}";
            }

            if (Fingerprint(world) == before)
            {
                break; // nothing left to do
            }
        }

        var (bases, patches) = world.Kept([]);
        if (bases.Count == 0)
        {
            return null;
        }

        var newestBase = bases[^1];
        var newest = patches.Where(p => p.Key == newestBase.Id).Select(p => p.Id).DefaultIfEmpty(newestBase.Id).MaxBy(id => ulong.Parse(id, CultureInfo.InvariantCulture))!;
        var expected = VersionInfo.DirectoryName(newestBase.Id, newest);
        if (world.State.Current != expected)
        {
            return $"after settling, {world.State.Current ?? "nothing"} is live where the newest line is {expected}";
        }

        var behind = world.All.Select((a, i) => (a, i)).Where(x => x.a.Live != expected).Select(x => $"{x.i / Replicas}/{x.i % Replicas} serves {x.a.Live ?? "nothing"}").ToList();
        return behind.Count == 0 ? null : $"after settling, {expected} is live but {string.Join(", ", behind)}";
    }

    /// <summary>The persisted state and what every agent serves and holds.</summary>
    private static string Fingerprint(World world) =>
        Convert.ToBase64String(new TransferStateStore("unused").Serialize(world.State)) + string.Join(";", world.All.Select(a => $"{a.Live}:{string.Join(",", a.Holds.Order())}"));

    private static string? Apply(World world, Event e)
    {
        var state = world.State;
        switch (e)
        {
            case Configure configure:
                world.Options = OptionsFor(configure.Draw);
                return null;
            case AddBase add:
                var id = world.NewId();
                var lastBase = world.Bases.Count > 0 ? world.Bases[^1].Id : "100";
                world.Bases.Add(add.Valid ? new DonefileEntry(id, id, "in/" + id, world.Bases.Count + 1) : new DonefileEntry(lastBase, lastBase == "100" ? id : lastBase, "in/bad", world.Bases.Count + 1));
                return null;
            case AddPatch patch:
                var of = patch.Orphan ? "99" : world.Bases.Count > 0 ? world.Bases[^1].Key : "99";
                var older = world.Patches.Where(p => p.Key == of).Select(p => p.Id).LastOrDefault();
                var patchId = patch.Valid || older is null ? world.NewId() : older;
                world.Patches.Add(new DonefileEntry(patchId, of, "in/" + patchId, world.Patches.Count + 1));
                return null;
            case Tick tick:
                world.Now += tick.Seconds;
                return null;
            case Pin:
                RolloutSteps.Pin(state, world.Now);
                return null;
            case Unpin:
                RolloutSteps.Unpin(state, world.Now);
                return null;
            case Restart:
                world.State = TransferStateStore.Read(new TransferStateStore("unused").Serialize(state));
                RolloutSteps.Restarted(world.State);
                return null;
            case AgentDown down:
                world.Agents[down.Shard, down.Replica].DownPolls = down.Polls;
                return null;
            case AgentFault fault:
                world.Agents[fault.Shard, fault.Replica].Faults.Enqueue(fault.Fault);
                return null;
            case Rollback rollback:
                return RollbackOnce(world, rollback.Choice);
            case Abandon abandon:
                AbandonOnce(world, abandon.Choice);
                return null;
            case Poll poll:
                return PollOnce(world, poll);
            default:
                return null;
        }
    }

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

    /// <summary>What must hold between any two events.</summary>
    private static string? Invariants(World world)
    {
        var state = world.State;
        if (state.History.Count(v => !v.IsSettled) > 1)
        {
            return $"two versions in progress: {string.Join(", ", state.History.Where(v => !v.IsSettled).Select(v => v.Label))}";
        }

        if (world.Violation is { } violation)
        {
            return violation;
        }

        if (state.History.FirstOrDefault(v => v.Status == VersionStatus.Abandoned && v.Label == state.Current) is { } back)
        {
            return $"the abandoned {back.Label} is live";
        }

        if (RolloutPlan.Live(state) is not { } live || state.History.Any(v => v.Status == VersionStatus.Enabling))
        {
            return null; // a killed activation: the replicas agree again once it is resumed
        }

        // The records tell the truth: a replica the live version's record calls active serves it
        // (one that does not is caught up at the next poll only if its record says so).
        var wrong = live.Instances.Where(i => i.StatusId == InstanceStatus.Active && world.Of(i).Live != live.Label).Select(i => $"{i.Shard}/{i.Replica} serves {world.Of(i).Live}").ToList();
        return wrong.Count == 0 ? null : $"{live.Label} is recorded active where it is not served: {string.Join(", ", wrong)}";
    }

    /// <summary>Checked where a version goes live (a rollout finished, a rollback done): some
    /// replica of every shard serves it. (Later an agent may be cut off; then the records say so.)</summary>
    private static string? ServedOnEveryShard(World world, string label)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (Enumerable.Range(0, Replicas).All(r => world.Agents[s, r].Live != label))
            {
                return $"{label} goes live, yet no replica of shard {s} serves it ({string.Join(", ", Enumerable.Range(0, Replicas).Select(r => world.Agents[s, r].Live ?? "nothing"))})";
            }
        }

        return null;
    }

    /// <summary>The invariants of one decision, or null when it keeps them all.</summary>
    private static string? Broken(TransferState state, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now, RolloutPlan.Decision decision)
    {
        var pending = state.History.FirstOrDefault(v => !v.IsSettled);
        if (pending?.Status == VersionStatus.Enabling)
        {
            return decision.Step == RolloutPlan.Step.Resume && decision.Existing == pending ? null : $"{pending.Label}'s activation was cut short, yet {decision.Step} {Label(decision)}";
        }

        if (state.Pinned is not null)
        {
            return decision.Step == RolloutPlan.Step.None ? null : $"pinned at {state.Pinned}, yet {decision.Step} {Label(decision)}";
        }

        if (pending is not null)
        {
            return decision.Step == RolloutPlan.Step.Resume && decision.Existing == pending ? null : $"{pending.Label} is in progress, yet {decision.Step} {Label(decision)}";
        }

        if (decision.Step == RolloutPlan.Step.None)
        {
            return null;
        }

        var label = Label(decision)!;
        var (depend, version) = decision.Step == RolloutPlan.Step.New ? (decision.Entry!.Key, decision.Entry.Id) : (decision.Existing!.Depend, decision.Existing.Version);
        if (state.History.Any(v => v.Label == label && v.Status == VersionStatus.Abandoned))
        {
            return $"{label} was abandoned, yet {decision.Step}";
        }

        if (decision.Step == RolloutPlan.Step.Retry && decision.Existing!.NextRetryTime > now)
        {
            return $"{label} retried at {now}, before its pause ends at {decision.Existing.NextRetryTime}";
        }

        if (decision.Step == RolloutPlan.Step.New && state.History.Any(v => v.Label == label))
        {
            return $"{label} is in the history, yet recorded anew";
        }

        var current = RolloutPlan.Live(state);
        if (current is null)
        {
            return depend == version ? null : $"nothing is live, yet patch {label} first";
        }

        if (VersionId.Compare(depend, current.Depend) < 0 || (depend == current.Depend && VersionId.Compare(version, current.Version) <= 0))
        {
            return $"{label} is not newer than the live {current.Label}";
        }

        if (depend == current.Depend)
        {
            var skipped = patches.Where(p => p.Key == depend && VersionId.Compare(p.Id, current.Version) > 0 && VersionId.Compare(p.Id, version) < 0).Select(p => p.Id).ToList();
            if (skipped.Count > 0)
            {
                return $"{label} chosen after {current.Label}: patches {string.Join(", ", skipped)} skipped";
            }
        }
        else if (bases.Count == 0 || bases[^1].Id != depend)
        {
            return $"base {depend} chosen where the newest base line is {(bases.Count > 0 ? bases[^1].Id : "none")}";
        }

        return null;
    }

    private static string? Label(RolloutPlan.Decision d) => d.Step switch
    {
        RolloutPlan.Step.New => VersionInfo.DirectoryName(d.Entry!.Key, d.Entry.Id),
        RolloutPlan.Step.None => null,
        _ => d.Existing!.Label,
    };

    /// <summary>Drops events one at a time while the sequence still fails, until none can go.</summary>
    private static List<Event> Shrink(List<Event> events, Rules rules)
    {
        var shrunk = events;
        for (var progress = true; progress;)
        {
            progress = false;
            for (var i = shrunk.Count - 1; i >= 0; i--)
            {
                var candidate = shrunk.Where((_, j) => j != i).ToList();
                if (Check(candidate, rules) is not null)
                {
                    shrunk = candidate;
                    progress = true;
                }
            }
        }

        return shrunk;
    }

    private static string Describe(List<Event> events, Rules rules) =>
        $"{Check(events, rules)}\nshrunk to {events.Count} events:\n  {string.Join("\n  ", events)}";
}
