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
/// it stopped instead of redeploying. What to do is decided by <see cref="RolloutPlan"/> and
/// applied by <see cref="RolloutSteps"/> (both pure); this class is the I/O around them: the
/// donefile source and watcher, the builder, the agents, the state file, the operator's queue.
/// </summary>
internal sealed partial class TransferRole : IRole
{
    private readonly TransferOptions _options;
    private readonly ILogger _logger;
    private readonly TransferStateKeeper _state;
    private readonly DonefileSource _donefiles;
    private readonly VersionBuilder _builder;
    private readonly ReplicaRollout _replicas;
    private readonly TransferMetrics _metrics = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly DonefileWatcher _watcher;
    private readonly HashSet<string> _resumed = [];
    private Task? _loop;
    private long _polls;
    private string? _lastError;

    public TransferRole(TransferOptions options, BearerToken token, HttpClient http, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Token = token;
        Directory.CreateDirectory(options.TmpAddress);
        Directory.CreateDirectory(options.OutputAddress);
        var store = new TransferStateStore(options.TmpAddress);
        var state = store.Load();
        RolloutSteps.Restarted(state);
        _state = new TransferStateKeeper(store, state);
        _donefiles = new DonefileSource(options, http);
        _builder = new VersionBuilder(options, _donefiles, logger);
        _replicas = new ReplicaRollout(options, new AgentClient(http, token), _state, logger);
        _watcher = new DonefileWatcher(options.DonefileAddress, Wake);
    }

    public TransferOptions Options => _options;

    public BearerToken Token { get; }

    /// <summary>The state as last saved: a copy nobody changes (see <see cref="TransferStateKeeper"/>).</summary>
    internal TransferState Snapshot => _state.Snapshot;

    public string Name => "transfer";

    public int DataPort => 0;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

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

    public void WriteMetrics(MetricsWriter metrics) => _metrics.Write(metrics, GetStatus());

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
        var abandoned = _state.Read(s => s.History.Where(v => v.Status == VersionStatus.Abandoned).Select(v => v.Label).ToHashSet(StringComparer.Ordinal));
        bases = RolloutPlan.Monotonic(bases, basePath, errors, abandoned, isBase: true);
        patches = RolloutPlan.Monotonic(patches, "patch.txt", errors, abandoned, isBase: false);
        var unreported = _state.Commit(s =>
        {
            var news = RolloutSteps.Unreported(s, errors);
            return (news, news.Count > 0);
        });
        foreach (var e in unreported)
        {
            ControlLog.TransferWarning(_logger, $"donefile: {e.Message}");
        }

        var orphans = _state.Commit(s =>
        {
            var added = RolloutSteps.RecordOrphans(s, bases, patches, _options, Now);
            return (added, added.Count > 0);
        });
        foreach (var (record, problem) in orphans)
        {
            _lastError = $"{record.Label}: {problem}";
            ControlLog.TransferWarning(_logger, $"{record.Label} failed: {problem}");
        }

        await _replicas.CatchUpAsync(token).ConfigureAwait(false);
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

    /// <summary>What to deploy next (<see cref="RolloutPlan.Next"/>), taken up
    /// (<see cref="RolloutSteps.Begin"/>), saved and logged: a resumed version once, a new line as new.</summary>
    private VersionRecord? Next(IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches)
    {
        var (decision, version) = _state.Commit(s =>
        {
            var decision = RolloutPlan.Next(s.Pinned, s.Current, s.History, bases, patches, Now);
            return ((decision, RolloutSteps.Begin(s, decision, _options, Now)), decision.Step == RolloutPlan.Step.New);
        });
        if (decision.Step == RolloutPlan.Step.Resume && _resumed.Add(version!.Label))
        {
            ControlLog.Transfer(_logger, $"resuming {version.Label} at step '{version.StatusStr}' (built: {version.Built}, staged on {version.Instances.Count(i => i.StatusId.HasVersion())} of {version.Instances.Count})");
        }
        else if (decision.Step == RolloutPlan.Step.New)
        {
            ControlLog.Transfer(_logger, $"new {version!.Mode.Name()} {version.Label} from {version.Input}");
        }

        return version;
    }
}
