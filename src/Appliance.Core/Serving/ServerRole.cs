using System.Globalization;
using System.Net;
using System.Text.Json;
using Appliance.Core.Brpc;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Serving;

/// <summary>
/// The server role: one shard of one dict from a data directory, on the binary data port.
/// The data directory may be a builder's output: the newest complete base of the shard plus its
/// deltas is served, and with <see cref="ServerOptions.WatchSeconds"/> newer versions are picked up
/// as they appear. A version that fails to load is logged and the live one keeps serving.
/// </summary>
internal sealed class ServerRole : IRole
{
    private readonly ServerOptions _options;
    private readonly ILogger _logger;
    private readonly TcpServer _tcp;
    private readonly TcpServer? _respTcp;
    private readonly RespSessionFactory? _resp;
    private readonly ShardDictReader _reader;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _watcher;

    public ServerRole(ServerOptions options, ILoggerFactory loggers)
    {
        _options = options;
        _logger = loggers.CreateLogger("cube.server");
        Table = new LocalTable(options.DataDir, options.Dict, [options.Shard], options.InMemory, options.MergeAfter, options.FoldAt, options.Disk);
        if (options.Disk is { } disk)
        {
            // A disk-tier lookup waits for its reads on the thread that serves the connection; the
            // thread pool would add threads for other connections only slowly (it sees a busy
            // thread, not a wait), so their requests would queue behind one request's reads.
            ThreadPool.GetMinThreads(out var workers, out var completions);
            ThreadPool.SetMinThreads(Math.Max(workers, disk.Concurrency), completions);
        }

        Service = new ShardService(options.Dict, options.Shard, Store) { LatencyHistograms = options.LatencyHistograms };
        // One data port, two protocols, told apart by their first bytes (as brpc does): the binary
        // protocol, and baidu_std for the original cube clients (docs/protocol.md).
        var sessions = new FirstBytesSessionFactory(
            new FrameSessionFactory(Service, options.MaxPayloadBytes),
            (BaiduStdHeader.Magic.ToArray(), new BaiduStdSessionFactory(Service, options.MaxPayloadBytes)));
        _tcp = new TcpServer(new IPEndPoint(options.Bind, options.Port), sessions, options.Limits, loggers.CreateLogger("cube.net"));
        Service.Connections = () => _tcp.OpenConnections;
        Service.Transport = _tcp.Stats;
        _reader = new ShardDictReader(options.Dict, options.Shard, Store);
        if (options.RespPort is { } respPort)
        {
            _resp = new RespSessionFactory(_reader, options.MaxPayloadBytes, options.RespToken, _logger);
            _respTcp = new TcpServer(new IPEndPoint(options.Bind, respPort), _resp, options.Limits, loggers.CreateLogger("cube.resp"));
        }
    }

    /// <summary>The table this server serves (one shard); the agent role activates versions in it.</summary>
    public LocalTable Table { get; }

    public ShardStore Store => Table.Store(_options.Shard);

    public ShardService Service { get; }

    public string Name => "server";

    public int DataPort => _tcp.Port;

    public int RespPort => _respTcp?.Port ?? 0;

    public IEnumerable<Heartbeat> Heartbeats => _respTcp is null ? [_tcp.Heartbeat] : [_tcp.Heartbeat, _respTcp.Heartbeat];

    public void MapRoutes(IEndpointRouteBuilder routes)
    {
        LookupEndpoint.Map(routes, _reader, _options.RespToken, _logger);
        DictServiceEndpoint.Map(routes, Service, _options.RespToken, _logger);
    }

    public void WriteStatus(Utf8JsonWriter writer) =>
        JsonSerializer.Serialize(writer, Service.GetStatus(), ServingJsonContext.Default.ShardStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = Service.GetStatus();
        var labels = $"dict=\"{s.Dict}\",shard=\"{s.Shard.ToString(CultureInfo.InvariantCulture)}\"";
        metrics.Counter("cube_server_requests_total", "Data-plane requests received (all opcodes).", s.Requests, labels);
        metrics.Counter("cube_server_lookups_total", "Lookup requests answered.", s.Lookups, labels);
        metrics.Counter("cube_server_keys_total", "Keys looked up.", s.KeysLookedUp, labels);
        metrics.Counter("cube_server_key_misses_total", "Keys looked up and not found.", s.Misses, labels);
        metrics.Counter("cube_server_errors_total", "Requests answered with an error reply (version probes before the first version is live are not errors: cube_server_probes_not_ready_total).", s.Errors, labels);
        metrics.Counter("cube_server_probes_not_ready_total", "Version probes (lookups of no key) answered NotReady because no version was live yet.", Service.Stats.ProbesNotReady, labels);
        metrics.Counter("cube_server_version_switches_total", "Live version switches.", s.Switches, labels);
        metrics.Counter("cube_server_socket_reads_total", "Socket reads on the data port (requests per read shows pipelining).", s.Receives, labels);
        metrics.Counter("cube_server_socket_writes_total", "Socket writes on the data port.", s.Sends, labels);
        metrics.Counter("cube_server_received_bytes_total", "Bytes received on the data port.", s.BytesIn, labels);
        metrics.Counter("cube_server_sent_bytes_total", "Bytes sent on the data port.", s.BytesOut, labels);
        metrics.Gauge("cube_server_live_keys", "Keys in the live view (summed over its layers).", s.Keys, labels);
        metrics.Gauge("cube_server_mapped_bytes", "Bytes of shard files mapped by the live view.", s.BytesMapped, labels);
        metrics.Gauge("cube_server_connections", "Open data-plane connections.", s.Connections, labels);
        metrics.Gauge("cube_server_live_layers", "Versions (base + patches) of the live view's lineage; 0 while nothing is live.", s.Layers.Count, labels);
        metrics.Gauge("cube_server_read_layers", "Layers a lookup probes: the base, a merged layer and the patches not merged yet.", s.ReadLayers, labels);
        metrics.Counter("cube_server_merges_total", "Merges of patch layers switched in.", s.Merges, labels);
        metrics.Counter("cube_server_merge_failures_total", "Merges of patch layers that failed (the view served unmerged meanwhile).", s.MergeFailures, labels);
        metrics.Counter("cube_server_folds_total", "Merges that folded the base in too (the view one layer again).", Store.Merges.Folds, labels);
        metrics.Counter("cube_server_promotions_total", "Folds promoted into the base package (retain_versions: the patches they hold dropped from disk).", s.Promotions, labels);
        metrics.Counter("cube_server_promotion_failures_total", "Promotions that failed (the lineage stayed whole on disk).", s.PromotionFailures, labels);
        metrics.Gauge("cube_server_anchored_patches", "Patches the base package holds folded in (no version before the last of them is served here).", s.AnchoredPatches, labels);
        metrics.Counter("cube_server_merged_bytes_total", "Bytes of patch layers read by merges.", Store.Merges.BytesMerged, labels);
        metrics.Counter("cube_server_merge_seconds_total", "Time spent merging patch layers.", Store.Merges.TotalSeconds, labels);
        metrics.Histogram("cube_server_merge_duration_seconds", "How long each merge of patch layers (or fold of the base) took.", Store.Merges.Durations, labels);
        foreach (var (outcome, count) in (ReadOnlySpan<(string, long)>)[("hit", _tcp.Stats.BusyPollHits), ("miss", _tcp.Stats.BusyPollMisses)])
        {
            metrics.Counter("cube_server_busy_polls_total", "Data port busy-polls (--busy-poll-us) by outcome: hit = the next request came while polling (no wait in epoll), miss = it polled its whole budget.", count, $"{labels},outcome=\"{outcome}\"");
        }

        metrics.Gauge("cube_server_buffered_bytes", "Receive memory held for large requests beyond each connection's first 64 KiB (--max-buffered-mb).", _tcp.BufferedBytes, labels);
        if (Store.Tier is { } tier)
        {
            metrics.Counter("cube_server_disk_keys_total", "Disk tier: found keys answered (from the row cache or the device).", tier.Keys, labels);
            metrics.Counter("cube_server_disk_cache_hits_total", "Disk tier: found keys answered by the row cache.", tier.CacheHits, labels);
            metrics.Counter("cube_server_disk_reads_total", "Disk tier: device reads (one per key the cache missed; a long raw row takes two).", tier.DeviceReads, labels);
            metrics.Counter("cube_server_disk_read_bytes_total", "Disk tier: bytes read from the device.", tier.ReadBytes, labels);
            metrics.Counter("cube_server_disk_failed_keys_total", "Disk tier: keys whose read failed or came back short (their requests were refused).", tier.FailedKeys, labels);
            metrics.Counter("cube_server_disk_cache_admitted_total", "Disk tier: rows the admission policy let into the row cache.", tier.Admitted, labels);
            metrics.Gauge("cube_server_disk_cache_bytes", "Disk tier: memory of the row cache (rows, tags, frequency sketch).", tier.Cache?.Bytes ?? 0, labels);
            metrics.Histogram("cube_server_disk_read_duration_seconds", "Disk tier: one request's batch of device reads, submitted together, until the last completed.", tier.ReadLatency, labels);
        }

        if (s.LiveVersion.Length > 0)
        {
            metrics.Gauge("cube_server_live_version_info", "The version this shard serves (the label; always 1).", 1, $"{labels},version=\"{MetricsWriter.Escape(s.LiveVersion)}\"");
        }

        foreach (var (op, histogram) in Service.Latency)
        {
            metrics.Histogram("cube_server_request_duration_seconds", "Data-plane request latency on the server in seconds (frame whole → reply written), by opcode.", histogram, $"{labels},op=\"{op}\"");
        }

        if (_resp is not null && _respTcp is not null)
        {
            RespMetrics.Write(metrics, _resp.Stats, _respTcp, labels);
        }

        foreach (var (reason, count) in _tcp.Stats.Refusals)
        {
            metrics.Counter("cube_server_refusals_total", "Data-port connections refused or closed, and requests refused, by the limit that did it (docs/limits.md).", count, $"{labels},reason=\"{reason}\"");
        }
    }

    /// <summary>Loads what the data directory holds (throws if it holds a broken package) and
    /// opens the data port.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Managed && !RefreshFromDataDir() && Store.Live is null)
        {
            ServingLog.NothingToServe(_logger, _options.Dict, _options.Shard, _options.DataDir);
        }

        _tcp.Start();
        _respTcp?.Start();
        if (_options.WatchSeconds > 0)
        {
            _watcher = WatchAsync();
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _tcp.StopAsync().ConfigureAwait(false);
        if (_respTcp is not null)
        {
            await _respTcp.StopAsync().ConfigureAwait(false);
        }
        if (_watcher is not null)
        {
            await _watcher.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _tcp.DisposeAsync().ConfigureAwait(false);
        if (_respTcp is not null)
        {
            await _respTcp.DisposeAsync().ConfigureAwait(false);
        }

        Table.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Brings the store up to the newest base + deltas in the data directory. Returns
    /// true if the live view changed.</summary>
    public bool RefreshFromDataDir()
    {
        var switching = false;
        bool changed;
        try
        {
            changed = Table.Refresh(() =>
            {
                switching = true;
                SystemdNotifier.Reloading();
            });
        }
        finally
        {
            if (switching)
            {
                SystemdNotifier.Ready(ServingStatusLine());
            }
        }

        if (!changed)
        {
            return false;
        }

        var view = Store.Live!;
        ServingLog.Serving(_logger, _options.Dict, _options.Shard, view.VersionLabel, view.Keys, view.MappedBytes, $"{view.Lineage.Count} versions in {view.Layers.Count} read layer(s)");
        return true;
    }

    /// <summary>What <c>systemctl status</c> shows: "emb shard 0: serving 100_101 (20000 keys)".</summary>
    public string ServingStatusLine() => Store.Live is { } live
        ? $"{_options.Dict} shard {_options.Shard}: serving {live.VersionLabel} ({live.Keys} keys)"
        : $"{_options.Dict} shard {_options.Shard}: nothing to serve yet";

    private async Task WatchAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.WatchSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    RefreshFromDataDir();
                }
                catch (Exception e) when (e is Formats.InputFormatException or IOException or InvalidOperationException)
                {
                    ServingLog.LoadFailed(_logger, _options.Dict, _options.Shard, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
