using System.Text.Json;
using Appliance.Core.Control;
using Appliance.Core.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Engine;

/// <summary>
/// The engine role: POST /predict over HTTP, GET /status. Hot reload: when the package's
/// timestamp file changes, the new package is loaded beside the live one (a package that fails to
/// load or validate is logged and the live one keeps serving), switched in atomically, and the old
/// session released once the requests that started on it have finished.
/// </summary>
public sealed class EngineRole : IRoleReporter, IAsyncDisposable
{
    private readonly string _modelDirectory;
    private readonly IEmbeddingSource _source;
    private readonly string _sourceName;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Live _live;
    private Task? _watcher;
    private long _requests;
    private long _batched;
    private long _reloads;
    private long _reloadFailures;
    private string? _lastReloadError;

    private readonly MicroBatcher _batcher;

    public EngineRole(string modelDirectory, IEmbeddingSource source, string sourceName, ILogger logger, int maxBatch = 256, TimeSpan? maxWait = null)
    {
        _modelDirectory = modelDirectory;
        _source = source;
        _sourceName = sourceName;
        _logger = logger;
        _live = new Live(new CtrEngine(ModelPackage.Load(modelDirectory), source));
        _batcher = new MicroBatcher(ScoreOnLiveAsync, maxBatch, maxWait ?? TimeSpan.FromMilliseconds(1));
    }

    public string Role => "engine";

    public void Start() => _watcher = WatchAsync();

    public void Map(WebApplication app) =>
        app.MapPost("/predict", (Func<HttpContext, Task>)PredictAsync);

    public async Task<PredictResponse> PredictAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _batched, lines.Count);
        var result = await _batcher.ScoreAsync(lines, cancellationToken).ConfigureAwait(false);
        return new PredictResponse { ModelVersion = result.ModelVersion, Scores = result.Scores, Errors = result.Errors, MissingKeys = result.MissingKeys };
    }

    /// <summary>Scores one (micro-)batch on the live model, holding it until done so a reload
    /// cannot release its session underneath.</summary>
    private async Task<ScoreResult> ScoreOnLiveAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        var live = Acquire();
        try
        {
            return await live.Engine.ScoreAsync(lines, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            live.Release();
        }
    }

    public EngineStatus GetStatus()
    {
        var engine = Volatile.Read(ref _live).Engine;
        var requests = Interlocked.Read(ref _requests);
        return new EngineStatus
        {
            Model = _modelDirectory,
            ModelVersion = engine.Model.Timestamp,
            Source = _sourceName,
            Requests = requests,
            Samples = engine.Samples,
            SampleErrors = engine.Errors,
            MissingKeys = engine.Misses,
            Reloads = Interlocked.Read(ref _reloads),
            ReloadFailures = Interlocked.Read(ref _reloadFailures),
            LastReloadError = _lastReloadError,
            MeanRequest = requests == 0 ? 0 : Math.Round(Interlocked.Read(ref _batched) / (double)requests, 2),
            MeanBatch = _batcher.MeanBatch,
        };
    }

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, GetStatus(), EngineJsonContext.Default.EngineStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = GetStatus();
        metrics.Counter("cube_engine_requests_total", "Predict requests.", s.Requests);
        metrics.Counter("cube_engine_samples_total", "Samples scored.", s.Samples);
        metrics.Counter("cube_engine_sample_errors_total", "Samples refused (malformed).", s.SampleErrors);
        metrics.Counter("cube_engine_missing_keys_total", "Embedding keys not in the table (zero vectors).", s.MissingKeys);
        metrics.Counter("cube_engine_reloads_total", "Model packages switched in.", s.Reloads);
        metrics.Counter("cube_engine_reload_failures_total", "Model packages refused (the live one kept serving).", s.ReloadFailures);
    }

    /// <summary>Checks the timestamp file and reloads if it changed; false if the new package was refused.</summary>
    public bool ReloadIfChanged()
    {
        var path = Path.Combine(_modelDirectory, ModelPackage.TimestampFile);
        var stamp = File.Exists(path) ? File.ReadAllText(path).Trim() : string.Empty;
        var current = Volatile.Read(ref _live);
        if (stamp == current.Engine.Model.Timestamp)
        {
            return true;
        }

        try
        {
            var next = new Live(new CtrEngine(ModelPackage.Load(_modelDirectory), _source));
            var old = Interlocked.Exchange(ref _live, next);
            old.Release(); // the owner's reference: disposed when its last request finishes
            Interlocked.Increment(ref _reloads);
            ControlLog.ModelReloaded(_logger, next.Engine.Model.Timestamp, old.Engine.Model.Timestamp);
            return true;
        }
        catch (Exception e) when (e is Formats.InputFormatException or IOException or InvalidDataException)
        {
            if (_lastReloadError != e.Message)
            {
                ControlLog.ModelRefused(_logger, current.Engine.Model.Timestamp, e.Message);
            }

            _lastReloadError = e.Message;
            Interlocked.Increment(ref _reloadFailures);
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _batcher.DisposeAsync().ConfigureAwait(false);
        if (_watcher is not null)
        {
            await _watcher.ConfigureAwait(false);
        }

        Volatile.Read(ref _live).Release();
        _stopping.Dispose();
    }

    private async Task PredictAsync(HttpContext context)
    {
        PredictRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(context.Request.Body, EngineJsonContext.Default.PredictRequest, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync($"body is not a predict request: {e.Message}").ConfigureAwait(false);
            return;
        }

        var lines = new List<string>(request?.Lines ?? []);
        lines.AddRange(request?.Samples?.Select(s => s.ToLine()) ?? []);
        try
        {
            var response = await PredictAsync(lines, context.RequestAborted).ConfigureAwait(false);
            context.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(context.Response.Body, response, EngineJsonContext.Default.PredictResponse, context.RequestAborted).ConfigureAwait(false);
        }
        catch (EmbeddingUnavailableException e)
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync(e.Message).ConfigureAwait(false);
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

    private async Task WatchAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                ReloadIfChanged();
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
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
