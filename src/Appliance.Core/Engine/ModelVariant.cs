using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
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
    private readonly object _switch = new();
    private Live _live;

    /// <summary>A newer package, loaded, waiting for the table version it names.</summary>
    private Live? _next;
    private long _switchRetries;
    private string? _checkedFor;
    private readonly object _reloading = new();
    private long _requests;
    private long _reloads;
    private long _reloadFailures;

    private readonly EngineTimings? _timings;

    public ModelVariant(string name, string directory, int weight, IEmbeddingSource source, ILogger logger, int maxBatch, int runners, EngineTimings? timings = null, int batchSpinMicros = 0)
    {
        Name = name;
        Directory = directory;
        Weight = weight;
        _source = source;
        _logger = logger;
        _timings = timings;
        _live = new Live(new CtrEngine(ModelPackage.Load(directory), source, timings));
        _batcher = new MicroBatcher(ScoreOnLiveAsync, maxBatch, runners, batchSpinMicros);
    }

    public string Name { get; }

    public string Directory { get; }

    public int Weight { get; }

    public CtrEngine Engine => Volatile.Read(ref _live).Engine;

    public long Requests => Interlocked.Read(ref _requests);

    public long Reloads => Interlocked.Read(ref _reloads);

    public long ReloadFailures => Interlocked.Read(ref _reloadFailures);

    /// <summary>Batches read again because the rows came from a table the model does not take.</summary>
    public long SwitchRetries => Interlocked.Read(ref _switchRetries);

    public string? LastReloadError { get; private set; }

    /// <summary>The timestamp of a package last read mid-export (<see cref="ModelPackageChangingException"/>),
    /// forgiven once; under <see cref="_reloading"/>.</summary>
    private string? _changingStamp;

    /// <summary>The table version a newer package is waiting for (model.json's table_version,
    /// not served yet), or null.</summary>
    public string? WaitingForTable { get; private set; }

    public double MeanBatch => _batcher.MeanBatch;

    /// <summary>The batcher's polls of an empty queue (--batch-spin-us): ended by a request, and spent whole.</summary>
    public (long Hits, long Misses) BatchSpins => (_batcher.SpinHits, _batcher.SpinMisses);

    public Task<ScoreResult> ScoreAsync(IReadOnlyList<EngineSample> lines, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        return _batcher.ScoreAsync(lines, cancellationToken);
    }

    /// <summary>Checks the timestamp file and reloads if it changed; false if the new package was refused.</summary>
    public bool ReloadIfChanged()
    {
        // The watcher and a request that met newer rows may both look: one loads, the other sees it.
        lock (_reloading)
        {
            return ReloadIfChangedLocked();
        }
    }

    private bool ReloadIfChangedLocked()
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
            // A network is only right with the embeddings it was trained with. A package that
            // names a table_version not served yet is loaded now and waits beside the live one:
            // it goes live the moment the table does (the watcher's next tick, or the first
            // request that reads the new table, whichever comes first).
            var next = Volatile.Read(ref _next);
            if (next is null || next.Engine.Model.Timestamp != stamp)
            {
                next = new Live(new CtrEngine(ModelPackage.Load(Directory), _source, _timings));
                lock (_switch)
                {
                    // Under the lock: a request promoting the one replaced must not get it released.
                    Volatile.Read(ref _next)?.Release();
                    Volatile.Write(ref _next, next);
                }
            }

            // The table the loaded package needs, from the spec read with its graph (a second
            // read of model.json could already be the next export's).
            var required = next.Engine.Model.Spec.TableVersion;
            var served = _source.ServedVersion;
            _changingStamp = null;
            if (required is not null && (served is null || !TableVersions.Includes(served, required)))
            {
                if (WaitingForTable != required)
                {
                    ControlLog.ModelWaiting(_logger, $"{Name}@{stamp}", required, served ?? "nothing yet");
                }

                WaitingForTable = required;
                return true;
            }

            Promote(next);
            return true;
        }
        catch (ModelPackageChangingException) when (_changingStamp != stamp)
        {
            // Read while an export rewrote it: the next tick reads it again. Only a package that
            // still disagrees with itself on the tick after (same timestamp) is refused below.
            _changingStamp = stamp;
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

    /// <summary>Switches the waiting package in (if it is still the one waiting).</summary>
    private void Promote(Live next)
    {
        lock (_switch)
        {
            if (Volatile.Read(ref _next) != next)
            {
                return; // promoted meanwhile, or replaced by a newer package
            }

            Volatile.Write(ref _next, null);
            WaitingForTable = null;
            var old = Interlocked.Exchange(ref _live, next);
            old.Release(); // the owner's reference: disposed when its last request finishes
            Interlocked.Increment(ref _reloads);
            ControlLog.ModelReloaded(_logger, $"{Name}@{next.Engine.Model.Timestamp}", old.Engine.Model.Timestamp);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _batcher.DisposeAsync().ConfigureAwait(false);
        Volatile.Read(ref _next)?.Release();
        Volatile.Read(ref _live).Release();
    }

    /// <summary>Scores one (micro-)batch on the live model, holding it until done so a reload
    /// cannot release its session underneath, and checks the rows it read belong to that model:
    /// <list type="bullet">
    /// <item>rows of the table a waiting package names: that package goes live now and the batch
    /// is scored again with it (never new embeddings through the old network);</item>
    /// <item>rows older than the live model's table (a replica still switching) or straddling the
    /// waiting package's table (shards mid-switch): read again after a short pause, and refused
    /// (503) if the table does not settle;</item>
    /// <item>rows newer than the live model's table while the package on disk waits for a still
    /// newer one: the package meant for these rows was overwritten unseen, so the same (refused if
    /// the table does not reach the waiting package's version).</item>
    /// </list></summary>
    private async Task<ScoreResult> ScoreOnLiveAsync(IReadOnlyList<EngineSample> lines, CancellationToken cancellationToken)
    {
        const int Attempts = 5;
        string? why = null;
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            var live = Acquire();
            ScoreResult result;
            try
            {
                result = await live.Engine.ScoreAsync(lines, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                live.Release();
            }

            var table = result.Table;
            if (table.Oldest is null || table.Newest is null)
            {
                return result; // no row read: nothing to disagree with
            }

            var required = live.Engine.Model.Spec.TableVersion;
            var next = Volatile.Read(ref _next);
            var nextRequired = next?.Engine.Model.Spec.TableVersion;
            if (nextRequired is not null && TableVersions.Includes(table.Newest, nextRequired))
            {
                if (TableVersions.Includes(table.Oldest, nextRequired))
                {
                    Promote(next!);
                    continue;
                }

                why = $"the table is switching to version {nextRequired} (shards serve {table.Oldest} to {table.Newest})";
            }
            else if (required is not null && !TableVersions.Includes(table.Oldest, required))
            {
                why = $"a shard answered with table version {table.Oldest}, older than the {required} model {live.Engine.Model.Timestamp} needs";
            }
            else if (required is not null && nextRequired is not null && VersionId.IsValid(required) && VersionId.IsValid(table.Newest) && VersionId.Compare(table.Newest, required) > 0)
            {
                // Rows newer than the live model's table while a package for a still newer table
                // waits: the exporter replaced the package meant for these rows before it was
                // loaded (patches published faster than the watcher ticks). The live network was
                // not trained with these rows and the one that was is gone: refuse until the
                // table catches up with the waiting package, never answer a pairing no trainer made.
                why = $"the shards serve table version {table.Newest}, newer than the {required} the live model {live.Engine.Model.Timestamp} was trained with, and the package on disk waits for {nextRequired}";
            }
            else if (required is not null && next is null && table.Newest != required && (NewPackageFor(table.Newest) || Volatile.Read(ref _live) != live))
            {
                continue; // the rows are newer than the model: its successor was on disk, now loaded (or live)
            }
            else
            {
                return result;
            }

            Interlocked.Increment(ref _switchRetries);
            await Task.Delay(10 * attempt, cancellationToken).ConfigureAwait(false);
        }

        throw new EngineNotReadyException($"{why ?? "the model was switched during the request"}; try again");
    }

    /// <summary>Rows newer than the live model's table: a trainer writes the next model package
    /// before it publishes the table, so the package may be on disk already while the watcher has
    /// not ticked. Looked at once per table version (a file read), loaded here if it changed; true
    /// when a successor waits loaded. Under the reload lock: a request that meets the same rows
    /// while another is still loading that package waits for it — it once took the "already looked"
    /// answer and returned new rows scored by the old network (FaultInjectionTests, 1 run in ~8).</summary>
    private bool NewPackageFor(string tableVersion)
    {
        lock (_reloading)
        {
            if (_checkedFor != tableVersion)
            {
                _checkedFor = tableVersion;
                ReloadIfChangedLocked();
            }

            return Volatile.Read(ref _next) is not null;
        }
    }

    private Live Acquire()
    {
        while (true)
        {
            var live = Volatile.Read(ref _live);
            if (live.TryAddRef())
            {
                return live;
            }
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
