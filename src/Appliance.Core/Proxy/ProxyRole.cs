using System.Net;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Resp;
using Appliance.Core.Serving;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Proxy;

/// <summary>
/// The proxy role: one RESP address for the whole cluster. Redis clients connect to
/// <see cref="ProxyOptions.RespPort"/>; their keys are fanned out over the native client (the
/// cube.conf's shards, replicas, timeouts, retries and backup requests), so a Redis client sees
/// every shard of a dict on one address. <c>GET /lookup</c> answers the same on HTTP. The proxy
/// holds no table and no state beyond its connections: run as many as the clients need.
/// </summary>
internal sealed class ProxyRole : IRole
{
    private readonly ProxyOptions _options;
    private readonly CubeClient _client;
    private readonly ClusterDictReader _reader;
    private readonly RespSessionFactory _sessions;
    private readonly TcpServer _tcp;
    private readonly ILogger _logger;

    public ProxyRole(ProxyOptions options, ILoggerFactory loggers)
    {
        _options = options;
        _logger = loggers.CreateLogger("cube.proxy");
        _client = new CubeClient(options.Dicts);
        _reader = new ClusterDictReader(_client, options.Dicts, options.DefaultDict);
        _sessions = new RespSessionFactory(_reader, options.MaxPayloadBytes, options.RespToken, _logger);
        _tcp = new TcpServer(new IPEndPoint(options.Bind, options.RespPort), _sessions, options.Limits, loggers.CreateLogger("cube.resp"));
    }

    public string Name => "proxy";

    public int DataPort => 0;

    public int RespPort => _tcp.Port;

    public IEnumerable<Heartbeat> Heartbeats => [_tcp.Heartbeat];

    public void MapRoutes(IEndpointRouteBuilder routes) => LookupEndpoint.Map(routes, _reader, _options.RespToken, _logger);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _tcp.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _tcp.StopAsync();

    public void WriteStatus(Utf8JsonWriter writer)
    {
        var info = _reader.Info();
        writer.WriteStartObject();
        writer.WriteString("role", "proxy");
        writer.WriteString("conf", _options.ConfPath);
        writer.WriteNumber("resp_port", RespPort);
        writer.WriteString("default_dict", _options.DefaultDict);
        writer.WriteStartArray("dicts");
        foreach (var dict in _options.Dicts)
        {
            writer.WriteStartObject();
            writer.WriteString("dict", dict.DictName);
            writer.WriteNumber("shards", dict.Shards);
            writer.WriteNumber("replicas", dict.Dup);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("last_version", info.Version);
        writer.WriteNumber("connections", _tcp.OpenConnections);
        writer.WriteNumber("keys_read", _sessions.Stats.Keys);
        writer.WriteNumber("error_replies", _sessions.Stats.Errors);
        writer.WriteEndObject();
    }

    public void WriteMetrics(MetricsWriter metrics)
    {
        RespMetrics.Write(metrics, _sessions.Stats, _tcp, "role=\"proxy\"");
        _client.WriteMetrics(metrics);
    }

    public async ValueTask DisposeAsync()
    {
        await _tcp.DisposeAsync().ConfigureAwait(false);
        await _client.DisposeAsync().ConfigureAwait(false);
    }
}
