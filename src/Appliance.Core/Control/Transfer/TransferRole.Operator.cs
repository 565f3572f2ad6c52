using System.Threading.Channels;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>What an operator can ask of the transfer (POST /transfer/&lt;action&gt;, <c>cube transfer</c>).</summary>
public enum OperatorAction
{
    Rollback,
    Pin,
    Unpin,
    Abandon,
}

/// <summary>The answer to an operator command: an HTTP status and one line saying what happened.</summary>
public sealed record OperatorResult(int HttpStatus, string Message)
{
    public bool Ok => HttpStatus is >= 200 and < 300;
}

/// <summary>
/// Operator control: rollback, pin, unpin, abandon. Pin and unpin only set a flag, at once.
/// Rollback and abandon change what is live or what may be built, so they run on the rollout
/// loop itself, between two rollouts, never beside one: an HTTP request queues the command and
/// waits for it (a bounded time; after that it is answered 202 and the command still runs).
/// Abandoning the version being rolled out cancels that rollout unless it is already activating.
/// Every action is logged and recorded on the version it concerns in the deploy history.
/// </summary>
public sealed partial class TransferRole
{
    private const int MaxQueuedCommands = 16;

    private readonly Channel<PendingCommand> _commands = Channel.CreateBounded<PendingCommand>(new BoundedChannelOptions(MaxQueuedCommands) { SingleReader = true });

    /// <summary>The rollout in progress and the source that cancels it for an abandon.</summary>
    private (VersionRecord Version, CancellationTokenSource Abandon)? _deploying;

    /// <summary>Every (key, id) label the donefiles held at the last poll: what may be abandoned
    /// before the transfer has seen it through.</summary>
    private volatile IReadOnlyDictionary<string, DonefileEntry> _listed = new Dictionary<string, DonefileEntry>();

    private sealed record PendingCommand(OperatorAction Action, string? Version, TaskCompletionSource<OperatorResult> Done);

    /// <summary>Carries out an operator command; waits at most <paramref name="wait"/> for one
    /// that must run on the rollout loop.</summary>
    public async Task<OperatorResult> ExecuteAsync(OperatorAction action, string? version, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (version is not null && !IsLabel(version))
        {
            return new OperatorResult(400, $"version '{version}' is not <base>_<version> (two ids of 1-19 digits), as the deploy history names it");
        }

        switch (action)
        {
            case OperatorAction.Pin:
                return Pin();
            case OperatorAction.Unpin:
                return Unpin();
            case OperatorAction.Abandon when version is null:
                return new OperatorResult(400, "abandon needs the version: {\"version\": \"<base>_<version>\"}");
            case OperatorAction.Abandon:
                CancelRolloutOf(version);
                break;
        }

        var command = new PendingCommand(action, version, new TaskCompletionSource<OperatorResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_commands.Writer.TryWrite(command))
        {
            return new OperatorResult(503, $"{MaxQueuedCommands} operator commands are already waiting for the rollout loop; try again when they have run");
        }

        Wake();
        try
        {
            return await command.Done.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var busy = Snapshot.History.LastOrDefault(v => !v.IsSettled);
            return new OperatorResult(202, $"accepted: {action.ToString().ToLowerInvariant()} runs when the rollout step in progress ends ({busy?.Label ?? "none"} {busy?.StatusStr}); watch /status or the deploy history");
        }
    }

    private static bool IsLabel(string label)
    {
        var at = label.IndexOf('_', StringComparison.Ordinal);
        return at > 0 && VersionId.IsValid(label[..at]) && VersionId.IsValid(label[(at + 1)..]);
    }

    private OperatorResult Pin()
    {
        lock (State)
        {
            if (State.Pinned is { } pinned)
            {
                return new OperatorResult(200, $"already pinned at {pinned}");
            }

            State.Pinned = State.Current ?? "nothing";
            CurrentLocked()?.Record("pin", "the transfer activates nothing new until unpinned");
            SaveLocked();
        }

        ControlLog.Transfer(_logger, $"pinned at {State.Pinned} by an operator: nothing new is activated until unpinned");
        return new OperatorResult(200, $"pinned at {State.Pinned}: nothing new is activated until unpinned");
    }

    private OperatorResult Unpin()
    {
        string was;
        lock (State)
        {
            if (State.Pinned is null)
            {
                return new OperatorResult(200, "not pinned");
            }

            was = State.Pinned;
            State.Pinned = null;
            CurrentLocked()?.Record("unpin", $"pinned since {was}; rolling forward again");
            SaveLocked();
        }

        ControlLog.Transfer(_logger, $"unpinned by an operator (was pinned at {was}); rolling forward again");
        Wake();
        return new OperatorResult(200, $"unpinned (was pinned at {was}); rolling forward again");
    }

    /// <summary>An abandon of the version being rolled out stops that rollout at its next step,
    /// unless it is activating (a half-switched dict is worse than a finished one).</summary>
    private void CancelRolloutOf(string label)
    {
        lock (State)
        {
            if (_deploying is { } d && d.Version.Label == label && d.Version.Status != VersionStatus.Enabling)
            {
                d.Abandon.Cancel();
            }
        }
    }

    private VersionRecord? CurrentLocked() => State.History.LastOrDefault(v => v.Label == State.Current);

    /// <summary>Runs the queued commands; called by the loop between rollouts.</summary>
    private async Task RunCommandsAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested && _commands.Reader.TryRead(out var command))
        {
            OperatorResult result;
            try
            {
                result = command.Action switch
                {
                    OperatorAction.Rollback => await RollbackAsync(command.Version, token).ConfigureAwait(false),
                    OperatorAction.Abandon => await AbandonAsync(command.Version!, token).ConfigureAwait(false),
                    _ => new OperatorResult(400, $"{command.Action} does not run on the loop"),
                };
            }
            catch (Exception e) when (e is not OutOfMemoryException && !token.IsCancellationRequested)
            {
                result = new OperatorResult(500, $"{command.Action.ToString().ToLowerInvariant()} failed: {e.Message}");
            }

            if (!result.Ok)
            {
                ControlLog.TransferWarning(_logger, $"operator {command.Action.ToString().ToLowerInvariant()} {command.Version}: {result.Message}");
            }

            command.Done.TrySetResult(result);
        }
    }

    /// <summary>Activates an earlier version that reached every shard before (the one before the
    /// live version by default) on every replica, then pins the dict there. If a shard cannot
    /// switch (its agent no longer holds the version), the replicas already switched go back to
    /// the live version and nothing changes.</summary>
    private async Task<OperatorResult> RollbackAsync(string? label, CancellationToken token)
    {
        VersionRecord current;
        VersionRecord? target;
        lock (State)
        {
            if (CurrentLocked() is not { } live)
            {
                return new OperatorResult(409, "nothing is live yet: there is no version to roll back from");
            }

            current = live;
            target = label is null
                ? State.History.Where(v => v.WasActive && v != live && Older(v, live)).OrderBy(v => v, Lineage).LastOrDefault()
                : State.History.LastOrDefault(v => v.Label == label);
            if (target is null)
            {
                return label is null
                    ? new OperatorResult(409, $"no version before {live.Label} reached every shard: nothing to roll back to")
                    : new OperatorResult(404, $"{label} is not in the deploy history");
            }

            if (target == live)
            {
                return new OperatorResult(409, $"{label} is already live");
            }

            if (!target.WasActive)
            {
                return new OperatorResult(409, $"{target.Label} never reached every shard (it is {target.StatusStr}); only a version that was live can be rolled back to");
            }

            if (RetainFrom(State.History, target, _options.RetainVersions) is { } floor && VersionId.Compare(target.Version, floor) < 0)
            {
                return new OperatorResult(409, $"{target.Label} is older than the versions kept roll-backable (retain_versions: {_options.RetainVersions}; the oldest of its lineage is {VersionInfo.DirectoryName(target.Depend, floor)}): its patches may be folded into the base on the agents");
            }

            foreach (var instance in target.Instances)
            {
                instance.Set(InstanceStatus.Staged);
            }
        }

        ControlLog.Transfer(_logger, $"operator rollback: {current.Label} → {target.Label}");
        var problem = await ActivateAllAsync(target, token).ConfigureAwait(false);
        lock (State)
        {
            if (problem is not null)
            {
                foreach (var instance in target.Instances.Where(i => i.StatusId != InstanceStatus.Active))
                {
                    instance.Set(InstanceStatus.Staged, instance.Error);
                }

                current.Record("rollback_failed", $"to {target.Label}: {problem}");
                SaveLocked();
                return new OperatorResult(409, $"rollback to {target.Label} failed and changed nothing: {problem}");
            }

            current.Set(VersionStatus.RolledBack);
            current.Record("rolled_back", $"an operator rolled back to {target.Label}");
            target.Set(VersionStatus.Finished);
            target.FinishTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            target.Record("rollback", $"live again by an operator's rollback from {current.Label}; pinned");
            State.Current = target.Label;
            State.Pinned = target.Label;
            SaveLocked();
        }

        ControlLog.Transfer(_logger, $"rolled back from {current.Label} to {target.Label} on every shard; pinned there (unpin to roll forward, abandon {current.Label} to skip it)");
        return new OperatorResult(200, $"rolled back from {current.Label} to {target.Label} on every shard; pinned at {target.Label} (unpin to roll forward again; abandon {current.Label} so it is not redeployed)");
    }

    /// <summary>Marks a version abandoned: the loop never builds, stages or activates it again and
    /// later donefile lines are no longer compared with its id. Its build is moved aside
    /// (output/.abandoned/) and its staged copies retired on the agents. The live version cannot
    /// be abandoned (roll back first), nor a delta that a later built delta stacks on.</summary>
    private async Task<OperatorResult> AbandonAsync(string label, CancellationToken token)
    {
        VersionRecord record;
        lock (State)
        {
            var existing = State.History.LastOrDefault(v => v.Label == label);
            if (existing?.Status == VersionStatus.Abandoned)
            {
                return new OperatorResult(200, $"{label} is already abandoned");
            }

            if (existing is null)
            {
                if (!_listed.TryGetValue(label, out var entry))
                {
                    return new OperatorResult(404, $"{label} is neither in the deploy history nor in the donefiles");
                }

                existing = NewRecord(entry);
            }

            record = existing;
            if (RolloutPlan.WhyNotAbandon(State.Current, State.History, record) is { } refused)
            {
                return new OperatorResult(409, refused);
            }

            if (!State.History.Contains(record))
            {
                State.History.Add(record); // a donefile line never deployed: recorded as abandoned
            }

            record.Set(VersionStatus.Abandoned, record.Error);
            record.Record("abandon", "abandoned by an operator: never deployed again");
            SaveLocked();
        }

        ControlLog.Transfer(_logger, $"{label} abandoned by an operator: it is never deployed again");
        MoveBuildAside(record);
        await RetireEverywhereAsync(record, token).ConfigureAwait(false);
        return new OperatorResult(200, $"{label} abandoned: never deployed again; later donefile lines are no longer compared with it");
    }

    /// <summary>An abandoned build leaves the output, so later deltas are not built on it and the
    /// agents cannot fetch it; kept under output/.abandoned/ for whoever wants to look.</summary>
    private void MoveBuildAside(VersionRecord record)
    {
        var built = Path.Combine(_options.OutputAddress, record.Label);
        if (!Directory.Exists(built))
        {
            return;
        }

        var aside = Path.Combine(_options.OutputAddress, ".abandoned");
        Directory.CreateDirectory(aside);
        var target = Path.Combine(aside, $"{record.Label}-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}");
        Directory.Move(built, target);
        lock (State)
        {
            record.Built = false;
            SaveLocked();
        }
    }

    /// <summary>Versions in (depend, version) order: a lineage's versions after its base, lineages
    /// in base order.</summary>
    private static readonly Comparer<VersionRecord> Lineage = Comparer<VersionRecord>.Create((a, b) =>
    {
        var byBase = VersionId.Compare(a.Depend, b.Depend);
        return byBase != 0 ? byBase : VersionId.Compare(a.Version, b.Version);
    });

    private static bool Older(VersionRecord a, VersionRecord b) => Lineage.Compare(a, b) < 0;
}
