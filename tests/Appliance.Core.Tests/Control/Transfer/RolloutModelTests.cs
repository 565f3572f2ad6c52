using System.Globalization;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;
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
public sealed partial class RolloutModelTests
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
