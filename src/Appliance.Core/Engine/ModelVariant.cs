using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Engine;

/// <summary>
/// One model package served by the engine, with its traffic weight (the original's
/// WeightedRandomRender). Hot reload: when the package's timestamp file changes, the new package is
/// loaded beside the live one (one that fails to load or validate is logged and the live one keeps
/// serving), switched in atomically, and the old session released once the requests that started
/// on it have finished. Requests that arrive while the network is busy share runs (<see cref="MicroBatcher"/>).
/// </summary>
internal sealed class ModelVariant : IAsyncDisposable
{
    private readonly IEmbeddingSource _source;
    private readonly ILogger _logger;
    private readonly MicroBatcher _batcher;
    private Live _live;
    private long _requests;
    private long _reloads;
    private long _reloadFailures;

    public ModelVariant(string name, string directory, int weight, IEmbeddingSource source, ILogger logger, int maxBatch, int runners)
    {
        Name = name;
        Directory = directory;
        Weight = weight;
        _source = source;
        _logger = logger;
        _live = new Live(new CtrEngine(ModelPackage.Load(directory), source));
        _batcher = new MicroBatcher(ScoreOnLiveAsync, maxBatch, runners);
    }

    public string Name { get; }

    public string Directory { get; }

    public int Weight { get; }

    public CtrEngine Engine => Volatile.Read(ref _live).Engine;

    public long Requests => Interlocked.Read(ref _requests);

    public long Reloads => Interlocked.Read(ref _reloads);

    public long ReloadFailures => Interlocked.Read(ref _reloadFailures);

    public string? LastReloadError { get; private set; }

    /// <summary>The table version a newer package is waiting for (model.json's table_version,
    /// not served yet), or null.</summary>
    public string? WaitingForTable { get; private set; }

    public double MeanBatch => _batcher.MeanBatch;

    public Task<ScoreResult> ScoreAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        return _batcher.ScoreAsync(lines, cancellationToken);
    }

    /// <summary>Checks the timestamp file and reloads if it changed; false if the new package was refused.</summary>
    public bool ReloadIfChanged()
    {
        var path = Path.Combine(Directory, ModelPackage.TimestampFile);
        var stamp = File.Exists(path) ? File.ReadAllText(path).Trim() : string.Empty;
        var current = Volatile.Read(ref _live);
        if (stamp == current.Engine.Model.Timestamp)
        {
            return true;
        }

        try
        {
            // A network is only right with the embeddings it was trained with: wait until the
            // table version named in model.json (or a newer one) is served.
            var required = ModelPackage.ReadSpec(Directory).TableVersion;
            var served = _source.ServedVersion;
            if (required is not null && served is not null && !TableVersions.Includes(served, required))
            {
                if (WaitingForTable != required)
                {
                    ControlLog.ModelWaiting(_logger, $"{Name}@{stamp}", required, served);
                }

                WaitingForTable = required;
                return true;
            }

            WaitingForTable = null;
            var next = new Live(new CtrEngine(ModelPackage.Load(Directory), _source));
            var old = Interlocked.Exchange(ref _live, next);
            old.Release(); // the owner's reference: disposed when its last request finishes
            Interlocked.Increment(ref _reloads);
            ControlLog.ModelReloaded(_logger, $"{Name}@{next.Engine.Model.Timestamp}", old.Engine.Model.Timestamp);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever one package does (a malformed file, a graph ONNX Runtime refuses), it is
            // this package's failure: counted and logged once, the live model keeps serving.
            if (LastReloadError != e.Message)
            {
                ControlLog.ModelRefused(_logger, $"{Name}@{current.Engine.Model.Timestamp}", e.Message);
            }

            LastReloadError = e.Message;
            Interlocked.Increment(ref _reloadFailures);
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _batcher.DisposeAsync().ConfigureAwait(false);
        Volatile.Read(ref _live).Release();
    }

    /// <summary>Scores one (micro-)batch on the live model, holding it until done so a reload
    /// cannot release its session underneath.</summary>
    private async Task<ScoreResult> ScoreOnLiveAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        Live live;
        while (true)
        {
            live = Volatile.Read(ref _live);
            if (live.TryAddRef())
            {
                break;
            }
        }

        try
        {
            return await live.Engine.ScoreAsync(lines, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            live.Release();
        }
    }

    /// <summary>A loaded engine with a reference count: requests hold it; the ONNX session is
    /// disposed when it is retired and the last request has left.</summary>
    private sealed class Live(CtrEngine engine) : Storage.RefCounted
    {
        public CtrEngine Engine { get; } = engine;

        protected override void OnDrained() => Engine.Model.Dispose();
    }
}
