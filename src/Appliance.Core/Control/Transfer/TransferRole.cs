using System.Diagnostics;
using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// The transfer role: polls the donefiles, builds each new version in-process, and rolls it out to
/// every shard × replica: stage everywhere (download + verify), then activate everywhere, then
/// retire what the new version replaces. Trigger rules are the original's (2019):
/// a base newer than the current base starts a new lineage; patches of the current base are
/// applied in id order. Progress is saved after every step, so a restarted transfer resumes where
/// it stopped instead of redeploying.
/// </summary>
public sealed partial class TransferRole : IRole
{
    private readonly TransferOptions _options;
    private readonly ILogger _logger;
    private readonly TransferStateStore _store;
    private readonly DonefileSource _donefiles;
    private readonly AgentClient _agents;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly DonefileWatcher _watcher;
    private readonly HashSet<string> _resumed = [];
    private readonly LatencyHistogram _buildPhase = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _stagePhase = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _activatePhase = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _rollouts = new(LatencyHistogram.LongBounds);
    private Task? _loop;
    private long _polls;
    private string? _lastError;
    private TransferState _snapshot;

    public TransferRole(TransferOptions options, BearerToken token, HttpClient http, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Token = token;
        Directory.CreateDirectory(options.TmpAddress);
        Directory.CreateDirectory(options.OutputAddress);
        _store = new TransferStateStore(options.TmpAddress);
        State = _store.Load();
        foreach (var failed in State.History.Where(v => v.Status == VersionStatus.Failed))
        {
            // A restart is an operator's doing (often after fixing the cause): failed versions
            // are tried again at once, not after the rest of their pause.
            failed.NextRetryTime = 0;
        }

        _snapshot = TransferStateStore.Read(_store.Serialize(State));
        _donefiles = new DonefileSource(options, http);
        _watcher = new DonefileWatcher(options.DonefileAddress, Wake);
        _agents = new AgentClient(http, token);
    }

    public TransferOptions Options => _options;

    /// <summary>Asking an agent to stage: bounded by transfer.conf's max_attempts (and the stage timeout).</summary>
    private RetryPolicy StageRetry => new(_options.MaxAttempts);

    /// <summary>Asking an agent to activate: a few quick tries (staging did the slow part).</summary>
    private static RetryPolicy ActivateRetry => new(3);

    public BearerToken Token { get; }

    /// <summary>The working state, changed by the rollout only under <c>lock (State)</c>.</summary>
    private TransferState State { get; }

    /// <summary>The state as last saved: a copy nobody changes, so the query endpoints and
    /// /status read it without a lock and never see a rollout step half done.</summary>
    internal TransferState Snapshot => Volatile.Read(ref _snapshot);

    public string Name => "transfer";

    public int DataPort => 0;

    public void MapRoutes(IEndpointRouteBuilder routes) => TransferEndpoints.Map(routes, this, _logger);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (key, value) in _options.Ignored)
        {
            ControlLog.Transfer(_logger, $"transfer.conf: {key}: {value} is accepted from the original and ignored (the builder runs in-process; agents download from this HTTP port)");
        }

        _loop = Task.Run(LoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops polling and rolling out; a rollout in progress stops at its next step and
    /// resumes from the saved state after a restart.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }
        }
    }

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, GetStatus(), ControlJsonContext.Default.TransferStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = GetStatus();
        var labels = $"dict=\"{s.Dict}\"";
        metrics.Counter("cube_transfer_polls_total", "Donefile polls.", s.Polls, labels);
        metrics.Counter("cube_transfer_versions_activated_total", "Versions activated on every shard.", s.VersionsActivated, labels);
        metrics.Counter("cube_transfer_versions_failed_total", "Versions that could not reach every shard (the previous one kept serving).", s.VersionsFailed, labels);
        metrics.Gauge("cube_transfer_donefile_errors", "Donefile lines reported as bad and skipped.", s.DonefileErrors, labels);
        metrics.Gauge("cube_transfer_rollout_in_progress", "1 while a version is being built or rolled out.", s.InProgress is null ? 0 : 1, labels);
        if (s.CurrentVersion.Length > 0)
        {
            metrics.Gauge("cube_transfer_current_version_info", "The version live on every shard (the label; always 1).", 1, $"{labels},version=\"{MetricsWriter.Escape(s.CurrentVersion)}\"");
        }

        metrics.Gauge("cube_transfer_pinned", "1 while an operator has pinned the dict (nothing new is activated).", s.Pinned is null ? 0 : 1, labels);
        const string Phase = "Rollout phases in seconds (build, stage on every replica, activate on every replica), each time one completes.";
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, _buildPhase, $"{labels},phase=\"build\"");
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, _stagePhase, $"{labels},phase=\"stage\"");
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, _activatePhase, $"{labels},phase=\"activate\"");
        metrics.Histogram("cube_transfer_rollout_duration_seconds", "Whole rollouts in seconds (build + stage + activate) of versions that became live on every shard.", _rollouts, labels);
    }

    /// <summary>Polls now instead of waiting for the next interval. Called by the operator
    /// endpoints and by the donefile watcher's thread, either possibly while the role is being
    /// disposed: then there is nothing left to wake.</summary>
    public void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _watcher.Dispose(); // before the semaphore its events release
        _stopping.Dispose();
        _wake.Dispose();
    }

    public TransferStatus GetStatus()
    {
        var state = Snapshot;
        var pending = state.History.LastOrDefault(v => !v.IsSettled);
        return new TransferStatus
        {
            Dict = _options.DictName,
            CurrentVersion = state.Current ?? string.Empty,
            InProgress = pending?.Label,
            InProgressStatus = pending?.StatusStr,
            VersionsActivated = state.History.Count(v => v.WasActive),
            VersionsFailed = state.History.Count(v => v.Status == VersionStatus.Failed),
            DonefileErrors = state.Reported.Count,
            Polls = Interlocked.Read(ref _polls),
            LastError = _lastError,
            Pinned = state.Pinned,
            DonefileWatch = _watcher.State,
        };
    }

    private async Task LoopAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (_watcher.EnsureStarted() is { } why)
                {
                    ControlLog.Transfer(_logger, $"donefile: {why}; every {_options.PollSeconds} s (poll_seconds)");
                }

                await PollOnceAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException && !token.IsCancellationRequested)
            {
                // Nothing one donefile, version or agent can throw stops the loop: the failure is
                // reported and the next poll tries again (the live version keeps serving).
                _lastError = e.Message;
                ControlLog.TransferWarning(_logger, $"poll failed: {e.Message}");
            }

            try
            {
                await _wake.WaitAsync(TimeSpan.FromSeconds(_options.PollSeconds), token).ConfigureAwait(false);
                while (_wake.Wait(0))
                {
                    // One poll answers every wake-up so far (a line appended is often two events).
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: run operator commands, read donefiles, bring lagging replicas up to
    /// date, deploy what is next (operator commands run again after each rollout).</summary>
    private async Task PollOnceAsync(CancellationToken token)
    {
        Interlocked.Increment(ref _polls);
        await RunCommandsAsync(token).ConfigureAwait(false);
        var errors = new List<InputFormatException>();
        var (bases, basePath) = await _donefiles.ReadAsync("base.txt", errors, token).ConfigureAwait(false);
        var patches = _options.Mode == "base_delta" ? (await _donefiles.ReadAsync("patch.txt", errors, token).ConfigureAwait(false)).Entries : [];
        _listed = bases.Concat(patches).GroupBy(e => VersionInfo.DirectoryName(e.Key, e.Id)).ToDictionary(g => g.Key, g => g.First());
        var abandoned = Abandoned();
        bases = RolloutPlan.Monotonic(bases, basePath, errors, abandoned, isBase: true);
        patches = RolloutPlan.Monotonic(patches, "patch.txt", errors, abandoned, isBase: false);
        Report(errors);
        RecordOrphans(bases, patches);
        await CatchUpAsync(token).ConfigureAwait(false);
        while (!token.IsCancellationRequested && Next(bases, patches) is { } version)
        {
            await DeployAsync(version, token).ConfigureAwait(false);
            await RunCommandsAsync(token).ConfigureAwait(false);
            if (version.Status != VersionStatus.Finished)
            {
                break;
            }
        }
    }

    /// <summary>A patch names its base by key. One whose base no line of base.txt has (and no
    /// version ever deployed) cannot go out: it becomes a failed version with the reason, in
    /// /status, the history and the log, instead of being passed over in silence. Should its base
    /// be appended later, it is retried like any failed version.</summary>
    private void RecordOrphans(IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches)
    {
        lock (State)
        {
            var added = false;
            foreach (var patch in RolloutPlan.Orphans(bases, patches, State.History))
            {
                var problem = $"patch.txt line {patch.LineNumber}: patch {patch.Id} names base {patch.Key}, which no line of base.txt has; it cannot be deployed (append that base, or correct the line's key)";
                var record = NewRecord(patch);
                record.Instances = NewInstances(patch.Id, patch.Key, record.Mode);
                record.Attempts = 1;
                record.Set(VersionStatus.Failed, problem);
                record.NextRetryTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 30;
                State.History.Add(record);
                added = true;
                _lastError = $"{record.Label}: {problem}";
                ControlLog.TransferWarning(_logger, $"{record.Label} failed: {problem}");
            }

            if (added)
            {
                SaveLocked();
            }
        }
    }

    private HashSet<string> Abandoned()
    {
        lock (State)
        {
            return State.History.Where(v => v.Status == VersionStatus.Abandoned).Select(v => v.Label).ToHashSet(StringComparer.Ordinal);
        }
    }

    private void Report(List<InputFormatException> errors)
    {
        lock (State)
        {
            var added = false;
            foreach (var e in errors)
            {
                var id = $"{e.Path}:{e.Location}:{e.Reason}";
                if (!State.Reported.Contains(id))
                {
                    State.Reported.Add(id);
                    added = true;
                    ControlLog.TransferWarning(_logger, $"donefile: {e.Message}");
                }
            }

            if (added)
            {
                SaveLocked();
            }
        }
    }

    /// <summary>What to deploy next (<see cref="RolloutPlan.Next"/>), applied: a resumed version
    /// logged once, a retried or rolled-forward one set waiting, a new line recorded and saved.</summary>
    private VersionRecord? Next(IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches)
    {
        lock (State)
        {
            var decision = RolloutPlan.Next(State.Pinned, State.Current, State.History, bases, patches, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            switch (decision.Step)
            {
                case RolloutPlan.Step.None:
                    return null;
                case RolloutPlan.Step.Resume:
                    var pending = decision.Existing!;
                    if (_resumed.Add(pending.Label))
                    {
                        ControlLog.Transfer(_logger, $"resuming {pending.Label} at step '{pending.StatusStr}' (built: {pending.Built}, staged on {pending.Instances.Count(i => i.StatusId.HasVersion())} of {pending.Instances.Count})");
                    }

                    return pending;
                case RolloutPlan.Step.RollForward:
                    decision.Existing!.Record("redeploy", "rolling forward again after an unpin");
                    decision.Existing.Set(VersionStatus.Waiting);
                    return decision.Existing;
                case RolloutPlan.Step.Retry:
                    decision.Existing!.Set(VersionStatus.Waiting);
                    return decision.Existing;
            }

            var entry = decision.Entry!;
            var record = NewRecord(entry);
            record.Instances = NewInstances(entry.Id, entry.Key, record.Mode);
            record.Set(VersionStatus.Waiting);
            State.History.Add(record);
            SaveLocked();
            ControlLog.Transfer(_logger, $"new {record.Mode.Name()} {record.Label} from {entry.Input}");
            return record;
        }
    }

    /// <summary>The history record of a donefile entry (no instances yet).</summary>
    private VersionRecord NewRecord(DonefileEntry entry) => new()
    {
        DictName = _options.DictName,
        Version = entry.Id,
        Depend = entry.Key,
        Id = entry.Id,
        Key = entry.Key,
        Mode = entry.IsBase ? VersionMode.Base : VersionMode.Delta,
        Input = entry.Input,
        Output = Path.Combine(_options.OutputAddress, VersionInfo.DirectoryName(entry.Key, entry.Id)),
        CreateTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
    };

    private List<InstanceRecord> NewInstances(string version, string depend, VersionMode mode)
    {
        var list = new List<InstanceRecord>();
        for (var s = 0; s < _options.ShardNum; s++)
        {
            for (var r = 0; r < _options.CopyNum; r++)
            {
                var agent = _options.Agents[s][r];
                list.Add(new InstanceRecord { DictName = _options.DictName, Mode = mode, Version = version, Depend = depend, Shard = s, Replica = r, AgentIp = agent.Host, AgentPort = agent.Port });
            }
        }

        return list;
    }

    /// <summary>Saves the state as it is now and publishes it as the new <see cref="Snapshot"/>.</summary>
    private void Save()
    {
        lock (State)
        {
            SaveLocked();
        }
    }

    /// <summary>Applies a change to the state under its lock, then saves and publishes it.</summary>
    private void Commit(Action change)
    {
        lock (State)
        {
            change();
            SaveLocked();
        }
    }

    /// <summary>Applies a change to the state under its lock; the next save publishes it.</summary>
    private void Change(Action change)
    {
        lock (State)
        {
            change();
        }
    }

    private void SaveLocked()
    {
        var bytes = _store.Save(State);
        Volatile.Write(ref _snapshot, TransferStateStore.Read(bytes));
    }

    private static double Since(long startTicks) => Stopwatch.GetElapsedTime(startTicks).TotalSeconds;
}
