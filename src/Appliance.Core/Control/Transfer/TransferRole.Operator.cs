using System.Threading.Channels;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// Operator control: rollback, pin, unpin, abandon. Pin and unpin only set a flag, at once.
/// Rollback and abandon change what is live or what may be built, so they run on the rollout
/// loop itself, between two rollouts, never beside one: an HTTP request queues the command and
/// waits for it (a bounded time; after that it is answered 202 and the command still runs).
/// Abandoning the version being rolled out cancels that rollout unless it is already activating.
/// Every action is logged and recorded on the version it concerns in the deploy history.
/// </summary>
internal sealed partial class TransferRole
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
        var result = _state.Commit(s => (RolloutSteps.Pin(s, Now), true));
        ControlLog.Transfer(_logger, $"operator pin: {result.Message}");
        return result;
    }

    private OperatorResult Unpin()
    {
        var result = _state.Commit(s => (RolloutSteps.Unpin(s, Now), true));
        ControlLog.Transfer(_logger, $"operator unpin: {result.Message}");
        Wake();
        return result;
    }

    /// <summary>An abandon of the version being rolled out stops that rollout at its next step,
    /// unless it is activating (a half-switched dict is worse than a finished one).</summary>
    private void CancelRolloutOf(string label)
    {
        _state.Change(_ =>
        {
            if (_deploying is { } d && d.Version.Label == label && d.Version.Status != VersionStatus.Enabling)
            {
                d.Abandon.Cancel();
            }
        });
    }

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

    /// <summary>Activates an earlier version that reached every shard before
    /// (<see cref="RolloutPlan.RollbackTarget"/>) on every replica, then pins the dict there. If a
    /// shard cannot switch (its agent no longer holds the version), the replicas already switched
    /// go back to the live version and nothing changes.</summary>
    private async Task<OperatorResult> RollbackAsync(string? label, CancellationToken token)
    {
        OperatorResult? refusal = null;
        var chosen = _state.Read(s => RolloutPlan.RollbackTarget(s, label, _options.RetainVersions, out refusal));
        if (chosen is not var (live, target))
        {
            return refusal!;
        }

        _state.Change(_ => RolloutSteps.PrepareRollback(target));
        ControlLog.Transfer(_logger, $"operator rollback: {live.Label} → {target.Label}");
        if (await _replicas.ActivateAllAsync(target, token).ConfigureAwait(false) is { } problem)
        {
            _state.Commit(_ => RolloutSteps.RollbackFailed(live, target, problem, Now));
            return new OperatorResult(409, $"rollback to {target.Label} failed and changed nothing: {problem}");
        }

        _state.Commit(s => RolloutSteps.RolledBack(s, live, target, Now));
        ControlLog.Transfer(_logger, $"rolled back from {live.Label} to {target.Label} on every shard; pinned there (unpin to roll forward, abandon {live.Label} to skip it)");
        return new OperatorResult(200, $"rolled back from {live.Label} to {target.Label} on every shard; pinned at {target.Label} (unpin to roll forward again; abandon {live.Label} so it is not redeployed)");
    }

    /// <summary>Marks a version abandoned (<see cref="RolloutSteps.Abandon"/>): the loop never
    /// builds, stages or activates it again and later donefile lines are no longer compared with
    /// its id. Its build is moved aside (output/.abandoned/) and its staged copies retired on the
    /// agents. The live version cannot be abandoned (roll back first), nor a delta that a later
    /// built delta stacks on.</summary>
    private async Task<OperatorResult> AbandonAsync(string label, CancellationToken token)
    {
        var (record, refusal) = _state.Commit(s =>
        {
            var existing = s.History.LastOrDefault(v => v.Label == label);
            if (existing?.Status == VersionStatus.Abandoned)
            {
                return ((existing, new OperatorResult(200, $"{label} is already abandoned")), false);
            }

            if (existing is null && !_listed.TryGetValue(label, out var entry))
            {
                return ((null, new OperatorResult(404, $"{label} is neither in the deploy history nor in the donefiles")), false);
            }

            // A donefile line never deployed is recorded, as abandoned.
            existing ??= RolloutSteps.NewVersion(_listed[label], _options, Now, replicas: false);
            var refused = RolloutSteps.Abandon(s, existing, Now);
            return ((existing, refused), refused is null);
        });
        if (refusal is not null)
        {
            return refusal;
        }

        ControlLog.Transfer(_logger, $"{label} abandoned by an operator: it is never deployed again");
        if (_builder.MoveAside(record!))
        {
            _state.Commit(_ => record!.Built = false);
        }

        await _replicas.RetireEverywhereAsync(record!, token).ConfigureAwait(false);
        return new OperatorResult(200, $"{label} abandoned: never deployed again; later donefile lines are no longer compared with it");
    }
}
