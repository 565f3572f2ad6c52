using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// How each event of a rollout changes the transfer's state: a decision taken up, a version
/// failed, staged or finished everywhere, a rollback, a pin, an abandon, donefile problems
/// recorded. Like <see cref="RolloutPlan"/> these do no I/O, read no clock (the time comes in as
/// <c>now</c>, unix seconds) and take no lock: <see cref="TransferRole"/> calls them under its
/// state's lock and saves, and the model-based tests drive the very same transitions.
/// </summary>
internal static class RolloutSteps
{
    /// <summary>The pause before a failed version is tried again: 30 s per attempt, at most 10 min.</summary>
    public static long RetryPause(int attempts) => Math.Min(600, 30 * attempts);

    /// <summary>The state loaded at a start. A restart is an operator's doing (often after fixing
    /// the cause): failed versions are tried again at once, not after the rest of their pause.</summary>
    public static void Restarted(TransferState state)
    {
        foreach (var failed in state.History.Where(v => v.Status == VersionStatus.Failed))
        {
            failed.NextRetryTime = 0;
        }
    }

    /// <summary>Takes up <see cref="RolloutPlan.Next"/>'s decision: the version to roll out now
    /// (set waiting; a new line recorded in the history), or null.</summary>
    public static VersionRecord? Begin(TransferState state, RolloutPlan.Decision decision, TransferOptions options, long now)
    {
        switch (decision.Step)
        {
            case RolloutPlan.Step.None:
                return null;
            case RolloutPlan.Step.Resume:
                return decision.Existing!;
            case RolloutPlan.Step.RollForward:
                decision.Existing!.Record("redeploy", "rolling forward again after an unpin", now);
                decision.Existing.Set(VersionStatus.Waiting);
                return decision.Existing;
            case RolloutPlan.Step.Retry:
                decision.Existing!.Set(VersionStatus.Waiting);
                return decision.Existing;
        }

        var record = NewVersion(decision.Entry!, options, now);
        record.Set(VersionStatus.Waiting);
        state.History.Add(record);
        return record;
    }

    /// <summary>The history record of a donefile entry, with an instance per shard replica (none
    /// for a line abandoned before it was deployed).</summary>
    public static VersionRecord NewVersion(DonefileEntry entry, TransferOptions options, long now, bool replicas = true)
    {
        var mode = entry.IsBase ? VersionMode.Base : VersionMode.Delta;
        var record = new VersionRecord
        {
            DictName = options.DictName,
            Version = entry.Id,
            Depend = entry.Key,
            Id = entry.Id,
            Key = entry.Key,
            Mode = mode,
            Input = entry.Input,
            Output = Path.Combine(options.OutputAddress, VersionInfo.DirectoryName(entry.Key, entry.Id)),
            CreateTime = now,
        };
        for (var s = 0; replicas && s < options.ShardNum; s++)
        {
            for (var r = 0; r < options.CopyNum; r++)
            {
                var agent = options.Agents[s][r];
                record.Instances.Add(new InstanceRecord { DictName = options.DictName, Mode = mode, Version = entry.Id, Depend = entry.Key, Shard = s, Replica = r, AgentIp = agent.Host, AgentPort = agent.Port });
            }
        }

        return record;
    }

    /// <summary>A patch whose base no line of base.txt has (<see cref="RolloutPlan.Orphans"/>)
    /// becomes a failed version with the reason; retried like any failed version should its base
    /// be appended later. Returns the records added with their problem.</summary>
    public static List<(VersionRecord Version, string Problem)> RecordOrphans(TransferState state, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, TransferOptions options, long now)
    {
        var added = new List<(VersionRecord, string)>();
        foreach (var patch in RolloutPlan.Orphans(bases, patches, state.History))
        {
            var problem = $"patch.txt line {patch.LineNumber}: patch {patch.Id} names base {patch.Key}, which no line of base.txt has; it cannot be deployed (append that base, or correct the line's key)";
            var record = NewVersion(patch, options, now);
            record.Attempts = 1;
            record.Set(VersionStatus.Failed, problem);
            record.NextRetryTime = now + RetryPause(1);
            state.History.Add(record);
            added.Add((record, problem));
        }

        return added;
    }

    /// <summary>Donefile problems not reported before (each is reported once, across restarts).</summary>
    public static List<InputFormatException> Unreported(TransferState state, IEnumerable<InputFormatException> errors) =>
        errors.Where(e => AddOnce(state.Reported, $"{e.Path}:{e.Location}:{e.Reason}")).ToList();

    private static bool AddOnce(List<string> list, string id)
    {
        if (list.Contains(id))
        {
            return false;
        }

        list.Add(id);
        return true;
    }

    /// <summary>The version could not reach every shard: failed, retried after a pause.</summary>
    public static void Fail(VersionRecord version, string problem, long now)
    {
        version.Attempts++;
        version.Set(VersionStatus.Failed, problem);
        version.NextRetryTime = now + RetryPause(version.Attempts);
    }

    /// <summary>After staging: null when the version may be activated — every replica staged
    /// (down_policy wait) or every shard has at least one (skip) — else why not.</summary>
    public static string? StageVerdict(VersionRecord version, TransferOptions options)
    {
        var staged = version.Instances.Where(i => i.StatusId.HasVersion()).ToList();
        var missingShards = Enumerable.Range(0, options.ShardNum).Where(s => !staged.Any(i => i.Shard == s)).ToList();
        if (missingShards.Count > 0)
        {
            var why = version.Instances.Where(i => missingShards.Contains(i.Shard)).Select(i => $"shard {i.Shard} replica {i.Replica}: {i.Error}");
            return $"shard(s) {string.Join(", ", missingShards)} could not stage it ({string.Join("; ", why)})";
        }

        if (options.DownPolicy == "wait" && staged.Count < version.Instances.Count)
        {
            return $"{version.Instances.Count - staged.Count} replica(s) could not stage it and down_policy is wait";
        }

        return null;
    }

    /// <summary>Staged everywhere it must be: activation starts, unless the dict was pinned while
    /// it staged — then it waits, staged, for the unpin. True when activation may start.</summary>
    public static bool StartActivating(TransferState state, VersionRecord version)
    {
        if (state.Pinned is not null)
        {
            version.Set(VersionStatus.Staged);
            return false;
        }

        version.Set(VersionStatus.Enabling);
        return true;
    }

    /// <summary>After activation: the shards where no replica serves the version (empty: it is
    /// live on every shard).</summary>
    public static List<int> ShardsNotActive(VersionRecord version, int shardNum) =>
        Enumerable.Range(0, shardNum).Where(s => !version.Instances.Any(i => i.Shard == s && i.StatusId == InstanceStatus.Active)).ToList();

    /// <summary>After a failed activation of <paramref name="version"/>: each replica that switched
    /// to it, with the live version's instance it goes back to (none when nothing was live).</summary>
    public static List<(InstanceRecord Switched, InstanceRecord Back)> ToSwitchBack(VersionRecord version, VersionRecord? live) =>
        live is null ? [] : [.. version.Instances.Where(i => i.StatusId == InstanceStatus.Active)
            .Select(i => (i, live.Instances.First(p => p.Shard == i.Shard && p.Replica == i.Replica)))];

    /// <summary>After a failed activation of <paramref name="version"/>: a replica whose agent did
    /// not confirm the switch (refused, down, or answered too late — the switch may have happened)
    /// may serve either version, so the live version's record stops calling it active; the next
    /// poll's catch-up asks its agent what it serves and puts it back on the live version.</summary>
    public static void Unconfirmed(VersionRecord version, VersionRecord? live)
    {
        foreach (var instance in version.Instances.Where(i => i.StatusId == InstanceStatus.ActivateFailed))
        {
            live?.Instances.FirstOrDefault(p => p.Shard == instance.Shard && p.Replica == instance.Replica)?
                .Set(InstanceStatus.ActivateFailed, $"{version.Label} failed to activate here and may be served: checked at the next poll");
        }
    }

    /// <summary>Why activation failed, for the version's record: the shards, their errors, and the
    /// version the switched replicas went back to.</summary>
    public static string ActivationProblem(VersionRecord version, List<int> missing, VersionRecord? previous)
    {
        var why = version.Instances.Where(i => missing.Contains(i.Shard) && i.Error is not null).Select(i => $"shard {i.Shard} replica {i.Replica}: {i.Error}").Take(4);
        return $"shard(s) {string.Join(", ", missing)} could not activate it ({string.Join("; ", why)}); rolled back to {previous?.Label ?? "nothing"}";
    }

    /// <summary>Live on every shard: the version becomes current, the one before superseded. A pin
    /// set while it was activating now holds at it (the pin stops what had not begun).</summary>
    public static void Finish(TransferState state, VersionRecord version, long now)
    {
        foreach (var old in state.History.Where(v => v.Status == VersionStatus.Finished))
        {
            old.Set(VersionStatus.Superseded);
        }

        version.Set(VersionStatus.Finished);
        version.FinishTime = now;
        // The steps' own clocks: unix seconds would round a quarter-second rollout to 0.
        version.TotalSeconds = Math.Round(version.BuildSeconds + version.StageSeconds + version.ActivateSeconds, 3);
        state.Current = version.Label;
        if (state.Pinned is not null)
        {
            state.Pinned = version.Label;
        }
    }

    /// <summary>Before a rollback activates <paramref name="target"/> again: every replica of it
    /// is to be switched.</summary>
    public static void PrepareRollback(VersionRecord target)
    {
        foreach (var instance in target.Instances)
        {
            instance.Set(InstanceStatus.Staged);
        }
    }

    /// <summary>A rollback that could not switch every shard changed nothing: the replicas of the
    /// target go back to staged, the live version records the attempt.</summary>
    public static void RollbackFailed(VersionRecord live, VersionRecord target, string problem, long now)
    {
        foreach (var instance in target.Instances.Where(i => i.StatusId != InstanceStatus.Active))
        {
            instance.Set(InstanceStatus.Staged, instance.Error);
        }

        live.Record("rollback_failed", $"to {target.Label}: {problem}", now);
    }

    /// <summary>A rollback that switched every shard: the target is current and the dict pinned there.</summary>
    public static void RolledBack(TransferState state, VersionRecord live, VersionRecord target, long now)
    {
        live.Set(VersionStatus.RolledBack);
        live.Record("rolled_back", $"an operator rolled back to {target.Label}", now);
        target.Set(VersionStatus.Finished);
        target.FinishTime = now;
        target.Record("rollback", $"live again by an operator's rollback from {live.Label}; pinned", now);
        state.Current = target.Label;
        state.Pinned = target.Label;
    }

    /// <summary>Pins the dict at what is live: nothing new is activated until unpinned.</summary>
    public static OperatorResult Pin(TransferState state, long now)
    {
        if (state.Pinned is { } pinned)
        {
            return new OperatorResult(200, $"already pinned at {pinned}");
        }

        state.Pinned = state.Current ?? "nothing";
        RolloutPlan.Live(state)?.Record("pin", "the transfer activates nothing new until unpinned", now);
        return new OperatorResult(200, $"pinned at {state.Pinned}: nothing new is activated until unpinned");
    }

    public static OperatorResult Unpin(TransferState state, long now)
    {
        if (state.Pinned is not { } was)
        {
            return new OperatorResult(200, "not pinned");
        }

        state.Pinned = null;
        RolloutPlan.Live(state)?.Record("unpin", $"pinned since {was}; rolling forward again", now);
        return new OperatorResult(200, $"unpinned (was pinned at {was}); rolling forward again");
    }

    /// <summary>Abandons <paramref name="record"/> (a history record, or a donefile line never
    /// deployed, then recorded): never built, staged or activated again. Null when done, else the
    /// refusal (<see cref="RolloutPlan.WhyNotAbandon"/>).</summary>
    public static OperatorResult? Abandon(TransferState state, VersionRecord record, long now)
    {
        if (RolloutPlan.WhyNotAbandon(state.Current, state.History, record) is { } refused)
        {
            return new OperatorResult(409, refused);
        }

        if (!state.History.Contains(record))
        {
            state.History.Add(record);
        }

        record.Set(VersionStatus.Abandoned, record.Error);
        record.Record("abandon", "abandoned by an operator: never deployed again", now);
        return null;
    }
}
