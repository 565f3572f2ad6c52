using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Appliance.Core.Net;

namespace Appliance.Core.Resp;

/// <summary>A RESP port's part of /metrics, the same for a shard server and the proxy.</summary>
internal static class RespMetrics
{
    public static void Write(MetricsWriter metrics, RespStats stats, TcpServer port, string labels)
    {
        var prefix = labels.Length > 0 ? labels + "," : string.Empty;
        foreach (var (command, count) in stats.Commands)
        {
            metrics.Counter("cube_resp_commands_total", "RESP commands received, by command (unknown ones as other).", count, $"{prefix}command=\"{command.ToLowerInvariant()}\"");
        }

        metrics.Counter("cube_resp_error_replies_total", "RESP error replies (bad keys, unknown or write commands, failed shards, protocol errors).", stats.Errors, labels);
        metrics.Counter("cube_resp_auth_failures_total", "RESP AUTH attempts with a wrong secret (after 3 on one connection each further one is answered later, doubling to 2 s).", stats.AuthFailures, labels);
        metrics.Counter("cube_resp_keys_total", "Keys read through RESP (GET, MGET, HGET, HMGET, EXISTS).", stats.Keys, labels);
        metrics.Gauge("cube_resp_connections", "Open RESP connections.", port.OpenConnections, labels);
        foreach (var (reason, count) in port.Stats.Refusals)
        {
            metrics.Counter("cube_resp_refusals_total", "RESP connections refused or closed, and requests refused, by the limit that did it (docs/limits.md).", count, $"{prefix}reason=\"{reason}\"");
        }
    }
}
