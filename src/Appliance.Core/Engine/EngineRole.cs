using System.Globalization;
using System.Net;
using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Engine;

/// <summary>
/// The engine role: POST /predict over HTTP (and the binary protocol's predict opcode when it has a
/// data port), its part of /status and /metrics. It serves one or more model variants
/// (<see cref="ModelVariant"/>), each request going to one of them at random in proportion to
/// their weights (or to the one it names). It owns its embedding source.
/// </summary>
internal sealed partial class EngineRole : IRole
{
    private readonly ModelVariant[] _variants;
    private readonly int _totalWeight;
    private readonly IEmbeddingSource _source;
    private readonly string _sourceName;
    private readonly TcpServer? _tcp;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _watcher;
    private long _requests;
    private long _notReady;
    private long _mismatches;
    private readonly RepeatLimiter _mismatchLog = new(TimeSpan.FromSeconds(10));
    private readonly RepeatLimiter _degradedLog = new(TimeSpan.FromSeconds(10));
    private string? _lastProbeError;
    private long _samples;
    private readonly RecentLatency _recentPredicts;

    /// <summary>The gRPC port's services (null: no --grpc-port).</summary>
    private readonly Grpc.EngineGrpc? _grpc;

    /// <summary>Loads every model package (once each: an ONNX session per package). Throws
    /// <see cref="Formats.InputFormatException"/> naming the package at fault.</summary>
    public EngineRole(EngineOptions options, IEmbeddingSource source, string sourceName, ILoggerFactory loggers, Grpc.EngineGrpc? grpc = null)
    {
        Options = options;
        _grpc = grpc;
        _recentPredicts = new RecentLatency(Timings.Predict);
        _source = source;
        _sourceName = sourceName;
        var logger = _logger = loggers.CreateLogger("cube.engine");
        var runners = options.Runners > 0 ? options.Runners : Environment.ProcessorCount;
        var variants = new List<ModelVariant>();
        try
        {
            foreach (var (directory, weight) in options.Models)
            {
                variants.Add(new ModelVariant(Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), directory, weight, source, logger, options.MaxBatch, runners, Timings, options.BatchSpinMicros));
            }
        }
        catch
        {
            foreach (var v in variants)
            {
                v.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            throw;
        }

        _variants = [.. variants];
        _totalWeight = _variants.Sum(v => v.Weight);
        if (_totalWeight <= 0)
        {
            throw new ArgumentException("the model variants' weights must add up to more than 0");
        }

        if (options.DataPort is { } port)
        {
            _tcp = new TcpServer(new IPEndPoint(options.Bind, port), new FrameSessionFactory(new EngineFrameHandler(this), options.MaxPayloadBytes), options.Limits, loggers.CreateLogger("cube.net"));
        }
    }

    public string Name => "engine";

    public int DataPort => _tcp?.Port ?? 0;

    public void MapRoutes(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/predict", (Func<HttpContext, Task>)PredictAsync);
        Oip.OipEndpoints.Map(routes, this);
        if (_grpc is not null)
        {
            _grpc.Engine = this;
            Grpc.EngineGrpc.Map(routes, Options.GrpcPort);
        }
    }

    /// <summary>Learns the table versions the shards serve (bounded: a shard that does not answer
    /// leaves the engine not ready, not stuck), opens the binary data port (if any) and starts
    /// watching the packages and the table.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshVersionsAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _tcp?.Start();
        _watcher = WatchAsync();
    }

    private async Task RefreshVersionsAsync(TimeSpan limit)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(limit);
        try
        {
            await _source.RefreshVersionsAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !_stopping.IsCancellationRequested)
        {
            // Unknown versions keep the engine not ready; the next tick asks again.
            if (_lastProbeError != e.Message)
            {
                ControlLog.VersionProbeFailed(_logger, e.Message);
                _lastProbeError = e.Message;
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_tcp is not null)
        {
            await _tcp.StopAsync().ConfigureAwait(false);
        }
    }

    public EngineOptions Options { get; }

    /// <summary>Why predictions are refused now, or null when the engine is ready: every shard
    /// must serve a version, and every variant's model the table version it names (or newer).</summary>
    public string? NotReadyReason() => _variants.Select(NotReadyReason).FirstOrDefault(r => r is not null);

    /// <summary>The model variants (the Open Inference Protocol's models).</summary>
    internal IReadOnlyList<ModelVariant> Variants => _variants;

    /// <summary>The package and table watcher ticks every second; a tick may load a model
    /// package (seconds for a large one) and waits at most 5 s for the shards.</summary>
    private readonly Heartbeat _watcherBeat = new("engine watcher", TimeSpan.FromSeconds(120));

    public IEnumerable<Heartbeat> Heartbeats => _tcp is null ? [_watcherBeat] : [_watcherBeat, _tcp.Heartbeat];

    /// <summary>Request and stage latency, across model reloads.</summary>
    public EngineTimings Timings { get; } = new();

    internal string? NotReadyReason(ModelVariant variant)
    {
        var served = _source.ServedVersion;
        if (served is null)
        {
            return $"waiting for the table: not every shard of {_sourceName} serves a version yet";
        }

        if (_source.Misfit(variant.Engine.Model.Spec.EmbeddingDim) is { } misfit)
        {
            return $"the table does not fit the model: {misfit} (until a table or model package that fits is live)";
        }

        if (Volatile.Read(ref _misfit) is { } seen && seen.Variant == variant.Name && seen.ModelVersion == variant.Engine.Model.Timestamp && seen.Served == served)
        {
            return $"the table does not fit the model: {seen.Reason} (until a table or model package that fits is live)";
        }

        var required = variant.Engine.Model.Spec.TableVersion;
        return required is not null && !TableVersions.Includes(served, required)
            ? $"waiting for the table: model {variant.Name} needs table version {required} or newer, the shards serve {served}"
            : null;
    }

    /// <summary>The last request refused because the rows did not fit its model: it holds while the
    /// same model and table versions are live.</summary>
    private sealed record Misfit(string Variant, string ModelVersion, string? Served, string Reason);

    private Misfit? _misfit;

    public EngineStatus GetStatus()
    {
        var requests = Interlocked.Read(ref _requests);
        var first = _variants[0];
        var notReady = NotReadyReason();
        var recent = _recentPredicts.Read();
        return new EngineStatus
        {
            Ready = notReady is null,
            NotReadyReason = notReady,
            TableVersion = _source.ServedVersion,
            Model = first.Directory,
            ModelVersion = first.Engine.Model.Timestamp,
            Source = _sourceName,
            Requests = requests,
            Samples = _variants.Sum(v => v.Engine.Samples),
            SampleErrors = _variants.Sum(v => v.Engine.Errors),
            MissingKeys = _variants.Sum(v => v.Engine.Misses),
            UnavailableKeys = _variants.Sum(v => v.Engine.Unavailable),
            DegradedBatches = _variants.Sum(v => v.Engine.Degraded),
            Reloads = _variants.Sum(v => v.Reloads),
            ReloadFailures = _variants.Sum(v => v.ReloadFailures),
            LastReloadError = _variants.Select(v => v.LastReloadError).LastOrDefault(e => e is not null),
            MeanRequest = requests == 0 ? 0 : Math.Round(Interlocked.Read(ref _samples) / (double)requests, 2),
            MeanBatch = first.MeanBatch,
            Variants = _variants.Select(v => new VariantStatus { Name = v.Name, Model = v.Directory, ModelVersion = v.Engine.Model.Timestamp, Weight = v.Weight, WaitingForTable = v.WaitingForTable, Requests = v.Requests, MeanBatch = v.MeanBatch }).ToList(),
            RequestsPerSecond = Math.Round(recent.PerSecond, 1),
            PredictP99Seconds = recent.P99Seconds is { } p99 ? Math.Round(p99, 6) : null,
            RecentWindowSeconds = Math.Round(recent.WindowSeconds, 1),
        };
    }

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, GetStatus(), EngineJsonContext.Default.EngineStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = GetStatus();
        _grpc?.Stats.Write(metrics);
        metrics.Gauge("cube_engine_ready", "1 when predictions are answered (model loaded, its table live on every shard), else 0.", s.Ready ? 1 : 0);
        metrics.Counter("cube_engine_not_ready_refusals_total", "Predict requests refused because the table was not live yet (HTTP 503).", Interlocked.Read(ref _notReady));
        metrics.Counter("cube_engine_table_mismatch_refusals_total", "Predict requests refused because the table's rows do not fit the model (HTTP 503).", Interlocked.Read(ref _mismatches));
        metrics.Counter("cube_engine_requests_total", "Predict requests.", s.Requests);
        metrics.Counter("cube_engine_samples_total", "Samples scored.", s.Samples);
        metrics.Counter("cube_engine_sample_errors_total", "Samples refused (malformed).", s.SampleErrors);
        metrics.Counter("cube_engine_missing_keys_total", "Embedding keys not in the table (zero vectors).", s.MissingKeys);
        metrics.Counter("cube_engine_unavailable_keys_total", "Embedding keys whose shard failed, scored as zero vectors (--on-shard-failure zero).", s.UnavailableKeys);
        metrics.Counter("cube_engine_degraded_batches_total", "Network runs answered with keys of a failed shard as zeros (their scores are degraded; the response says unavailable_keys).", s.DegradedBatches);
        metrics.Counter("cube_engine_reloads_total", "Model packages switched in.", s.Reloads);
        metrics.Counter("cube_engine_reload_failures_total", "Model packages refused (the live one kept serving).", s.ReloadFailures);
        foreach (var (reason, count) in _tcp?.Stats.Refusals ?? [])
        {
            metrics.Counter("cube_engine_data_port_refusals_total", "Data-port (predict opcode) connections refused or closed, and requests refused, by the limit that did it (docs/limits.md).", count, $"reason=\"{reason}\"");
        }

        Timings.Write(metrics);
        _source.WriteMetrics(metrics);
        foreach (var (outcome, count) in (ReadOnlySpan<(string, long)>)[("hit", _variants.Sum(v => v.BatchSpins.Hits)), ("miss", _variants.Sum(v => v.BatchSpins.Misses))])
        {
            metrics.Counter("cube_engine_batch_spins_total", "Polls of the batcher's empty queue (--batch-spin-us) by outcome: hit = a request came while polling (no wake-up), miss = it polled its whole budget and parked.", count, $"outcome=\"{outcome}\"");
        }

        metrics.Counter("cube_engine_table_switch_retries_total", "Batches read again because their rows came from a table version the model does not take (a switch in progress).", _variants.Sum(v => v.SwitchRetries));
        if (s.TableVersion is { Length: > 0 } table)
        {
            metrics.Gauge("cube_engine_table_version_info", "The newest table version every shard serves (the label; always 1).", 1, $"version=\"{MetricsWriter.Escape(table)}\"");
        }

        foreach (var v in s.Variants)
        {
            metrics.Gauge("cube_engine_model_version_info", "The live model package of each variant (the labels; always 1).", 1, $"variant=\"{MetricsWriter.Escape(v.Name)}\",version=\"{MetricsWriter.Escape(v.ModelVersion)}\"");
        }

        foreach (var v in s.Variants)
        {
            metrics.Counter("cube_engine_variant_requests_total", "Predict requests per model variant.", v.Requests, $"variant=\"{v.Name}\",weight=\"{v.Weight.ToString(CultureInfo.InvariantCulture)}\"");
        }
    }

    /// <summary>Reloads every variant whose timestamp changed (each logs and counts a refusal itself).</summary>
    private void ReloadChangedVariants()
    {
        foreach (var variant in _variants)
        {
            variant.ReloadIfChanged();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_tcp is not null)
        {
            await _tcp.DisposeAsync().ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watcher is not null)
        {
            await _watcher.ConfigureAwait(false);
        }

        foreach (var variant in _variants)
        {
            await variant.DisposeAsync().ConfigureAwait(false);
        }

        await _source.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>The variant named, or a weighted random one; null when no variant has that name.</summary>
    private ModelVariant? Choose(string? name)
    {
        if (name is not null)
        {
            return _variants.FirstOrDefault(v => v.Name == name);
        }

        var pick = Random.Shared.Next(_totalWeight);
        foreach (var variant in _variants)
        {
            pick -= variant.Weight;
            if (pick < 0)
            {
                return variant;
            }
        }

        return _variants[^1];
    }

    private async Task WatchAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                _watcherBeat.Beat();
                try
                {
                    await RefreshVersionsAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    ReloadChangedVariants();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // A variant counts its own refusals; this is the last guard that keeps the
                    // watcher alive whatever a tick throws.
                    ControlLog.ModelRefused(_logger, "(watcher)", e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
