using System.Globalization;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>
/// Model-based tests of the transfer's choice of what to deploy next (<see cref="RolloutPlan"/>):
/// random sequences of events — donefile lines good and bad (ids going backwards, a base whose id
/// is not its key, patches of a base no line has), polls whose rollout succeeds, fails or is cut
/// short by a kill, restarts from the persisted state, the clock, and operator pin, unpin,
/// rollback and abandon — applied as TransferRole applies them, with invariants checked at every
/// poll and, at the end, that the newest line is reached once the operator lets go. A failing
/// sequence is shrunk (events dropped one at a time while it still fails) and printed.
/// </summary>
public sealed class RolloutPlanModelTests
{
    private const int Sequences = 3000;
    private const int EventsPerSequence = 60;

    private delegate RolloutPlan.Decision Planner(string? pinned, string? current, IReadOnlyList<VersionRecord> history, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now);

    [Fact]
    public void EveryRandomSequenceKeepsTheInvariants()
    {
        for (var seed = 0; seed < Sequences; seed++)
        {
            var events = Generate(new Random(seed));
            if (Check(events, RolloutPlan.Next) is { } failure)
            {
                Assert.Fail($"seed {seed}: {Describe(Shrink(events, RolloutPlan.Next), RolloutPlan.Next)}\n(first failure before shrinking: {failure})");
            }
        }
    }

    /// <summary>The checker catches a broken rule: a planner that jumps to the newest patch of
    /// the base (skipping the ones between) fails, and the sequence shrinks to a handful of events.</summary>
    [Fact]
    public void ABrokenRuleIsCaughtAndShrunk()
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

        var failing = Enumerable.Range(0, Sequences).Select(seed => Generate(new Random(seed))).FirstOrDefault(e => Check(e, SkipsPatches) is not null);
        Assert.NotNull(failing);
        var shrunk = Shrink(failing, SkipsPatches);
        Assert.True(shrunk.Count <= 6, Describe(shrunk, SkipsPatches));
        Assert.Contains("skipped", Check(shrunk, SkipsPatches), StringComparison.Ordinal);
    }

    private enum Outcome
    {
        Success,
        Failure,
        Killed,
    }

    private abstract record Event;

    private sealed record AddBase(bool Valid) : Event;

    /// <summary>A patch of the newest base (or, <paramref name="Orphan"/>, of a base no line has);
    /// not <paramref name="Valid"/>: an id older than the last patch of that base.</summary>
    private sealed record AddPatch(bool Valid, bool Orphan) : Event;

    private sealed record Poll(Outcome Outcome) : Event;

    private sealed record Tick(int Seconds) : Event;

    private sealed record Pin : Event;

    private sealed record Unpin : Event;

    private sealed record Rollback(int Choice) : Event;

    private sealed record Abandon(int Choice) : Event;

    private sealed record Restart : Event;

    private static List<Event> Generate(Random random)
    {
        var events = new List<Event> { new AddBase(true) };
        for (var i = 1; i < EventsPerSequence; i++)
        {
            events.Add(random.Next(100) switch
            {
                < 8 => new AddBase(random.Next(6) > 0),
                < 30 => new AddPatch(random.Next(8) > 0, random.Next(12) == 0),
                < 70 => new Poll(random.Next(10) switch { < 7 => Outcome.Success, < 9 => Outcome.Failure, _ => Outcome.Killed }),
                < 78 => new Tick(random.Next(1, 60)),
                < 81 => new Pin(),
                < 85 => new Unpin(),
                < 90 => new Rollback(random.Next(1000)),
                < 95 => new Abandon(random.Next(1000)),
                _ => new Restart(),
            });
        }

        return events;
    }

    /// <summary>The transfer as the model sees it: the persisted state, the donefile lines, the clock.</summary>
    private sealed class World
    {
        public TransferState State { get; set; } = new();

        public List<DonefileEntry> Bases { get; } = [];

        public List<DonefileEntry> Patches { get; } = [];

        public long Now { get; set; } = 1_000;

        private ulong _nextId = 100;

        public string NewId() => (_nextId += 1).ToString(CultureInfo.InvariantCulture);

        public (IReadOnlyList<DonefileEntry> Bases, IReadOnlyList<DonefileEntry> Patches) Kept()
        {
            var abandoned = State.History.Where(v => v.Status == VersionStatus.Abandoned).Select(v => v.Label).ToHashSet(StringComparer.Ordinal);
            var errors = new List<InputFormatException>();
            return (RolloutPlan.Monotonic(Bases, "base.txt", errors, abandoned, isBase: true), RolloutPlan.Monotonic(Patches, "patch.txt", errors, abandoned, isBase: false));
        }
    }

    /// <summary>Runs <paramref name="events"/>; the first broken invariant, or null.</summary>
    private static string? Check(List<Event> events, Planner plan)
    {
        var world = new World();
        for (var i = 0; i < events.Count; i++)
        {
            if (Apply(world, events[i], plan) is { } broken)
            {
                return $"event {i} ({events[i]}): {broken}";
            }
        }

        // The operator lets go and every rollout succeeds: the newest kept line is reached.
        world.State.Pinned = null;
        for (var polls = 0; polls < 200; polls++)
        {
            world.Now += 60;
            var before = (world.State.Current, world.State.History.Count);
            if (Apply(world, new Poll(Outcome.Success), plan) is { } broken)
            {
                return $"settling, poll {polls}: {broken}";
            }

            if ((world.State.Current, world.State.History.Count) == before)
            {
                break; // nothing left to deploy
            }
        }

        var (bases, patches) = world.Kept();
        if (bases.Count == 0)
        {
            return null;
        }

        var newestBase = bases[^1];
        var newest = patches.Where(p => p.Key == newestBase.Id).Select(p => p.Id).DefaultIfEmpty(newestBase.Id).MaxBy(id => ulong.Parse(id, CultureInfo.InvariantCulture))!;
        var expected = VersionInfo.DirectoryName(newestBase.Id, newest);
        return world.State.Current == expected ? null : $"after settling, {world.State.Current ?? "nothing"} is live where the newest line is {expected}";
    }

    private static string? Apply(World world, Event e, Planner plan)
    {
        var state = world.State;
        var current = state.History.LastOrDefault(v => v.Label == state.Current);
        switch (e)
        {
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
                state.Pinned ??= state.Current;
                return null;
            case Unpin:
                state.Pinned = null;
                return null;
            case Restart:
                world.State = TransferStateStore.Read(new TransferStateStore("unused").Serialize(state));
                return null;
            case Rollback rollback when current is not null:
                var targets = state.History.Where(v => v.WasActive && v != current && v.Depend == current.Depend && VersionId.Compare(v.Version, current.Version) < 0).ToList();
                if (targets.Count > 0 && state.History.All(v => v.IsSettled))
                {
                    var target = targets[rollback.Choice % targets.Count];
                    current.Set(VersionStatus.RolledBack);
                    target.Set(VersionStatus.Finished);
                    state.Current = state.Pinned = target.Label;
                }

                return null;
            case Abandon abandon:
                var candidates = state.History.Where(v => v.IsSettled && v.Status != VersionStatus.Abandoned && RolloutPlan.WhyNotAbandon(state.Current, state.History, v) is null).ToList();
                if (candidates.Count > 0)
                {
                    candidates[abandon.Choice % candidates.Count].Set(VersionStatus.Abandoned);
                }

                return null;
            case Poll poll:
                return PollOnce(world, poll.Outcome, plan);
            default:
                return null;
        }
    }

    /// <summary>One poll as TransferRole does it: orphans recorded as failed, the decision checked
    /// against the invariants, then applied with the rollout's outcome.</summary>
    private static string? PollOnce(World world, Outcome outcome, Planner plan)
    {
        var state = world.State;
        var (bases, patches) = world.Kept();
        foreach (var orphan in RolloutPlan.Orphans(bases, patches, state.History))
        {
            var record = Record(orphan);
            record.Set(VersionStatus.Failed, "orphan");
            record.NextRetryTime = world.Now + 30;
            state.History.Add(record);
        }

        var decision = plan(state.Pinned, state.Current, state.History, bases, patches, world.Now);
        var replayed = TransferStateStore.Read(new TransferStateStore("unused").Serialize(state));
        var again = plan(replayed.Pinned, replayed.Current, replayed.History, bases, patches, world.Now);
        if (again.Step != decision.Step || Label(again) != Label(decision))
        {
            return $"the persisted state replayed decides {again.Step} {Label(again)}, the live one {decision.Step} {Label(decision)}";
        }

        if (Broken(state, bases, patches, world.Now, decision) is { } broken)
        {
            return broken;
        }

        VersionRecord version;
        switch (decision.Step)
        {
            case RolloutPlan.Step.None:
                return null;
            case RolloutPlan.Step.New:
                version = Record(decision.Entry!);
                state.History.Add(version);
                break;
            default:
                version = decision.Existing!;
                break;
        }

        version.Set(VersionStatus.Waiting);
        if (state.History.Count(v => !v.IsSettled) > 1)
        {
            return $"two versions in progress: {string.Join(", ", state.History.Where(v => !v.IsSettled).Select(v => v.Label))}";
        }

        switch (outcome)
        {
            case Outcome.Success:
                version.Built = true;
                var previous = state.History.LastOrDefault(v => v.Label == state.Current);
                previous?.Set(VersionStatus.Superseded);
                version.Set(VersionStatus.Finished);
                state.Current = version.Label;
                break;
            case Outcome.Failure:
                version.Set(VersionStatus.Failed, "a replica refused");
                version.NextRetryTime = world.Now + 30;
                break;
            case Outcome.Killed:
                version.Built = true;
                version.Set(VersionStatus.Staging);
                break;
        }

        return null;
    }

    /// <summary>The invariants of one decision, or null when it keeps them all.</summary>
    private static string? Broken(TransferState state, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now, RolloutPlan.Decision decision)
    {
        var pending = state.History.FirstOrDefault(v => !v.IsSettled);
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

        var current = state.History.LastOrDefault(v => v.Label == state.Current);
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

    private static VersionRecord Record(DonefileEntry entry) =>
        new() { Version = entry.Id, Depend = entry.Key, Id = entry.Id, Key = entry.Key, Mode = entry.IsBase ? VersionMode.Base : VersionMode.Delta, Input = entry.Input };

    private static string? Label(RolloutPlan.Decision d) => d.Step switch
    {
        RolloutPlan.Step.New => VersionInfo.DirectoryName(d.Entry!.Key, d.Entry.Id),
        RolloutPlan.Step.None => null,
        _ => d.Existing!.Label,
    };

    /// <summary>Drops events one at a time while the sequence still fails, until none can go.</summary>
    private static List<Event> Shrink(List<Event> events, Planner plan)
    {
        var shrunk = events;
        for (var progress = true; progress;)
        {
            progress = false;
            for (var i = shrunk.Count - 1; i >= 0; i--)
            {
                var candidate = shrunk.Where((_, j) => j != i).ToList();
                if (Check(candidate, plan) is not null)
                {
                    shrunk = candidate;
                    progress = true;
                }
            }
        }

        return shrunk;
    }

    private static string Describe(List<Event> events, Planner plan) =>
        $"{Check(events, plan)}\nshrunk to {events.Count} events:\n  {string.Join("\n  ", events)}";
}
