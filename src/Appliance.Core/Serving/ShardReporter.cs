using System.Globalization;
using System.Text.Json;
using Appliance.Core.Control;

namespace Appliance.Core.Serving;

/// <summary>The server role's part of /status and /metrics.</summary>
public sealed class ShardReporter(ShardService service) : IRoleReporter
{
    public string Role => "server";

    public void WriteStatus(Utf8JsonWriter writer) =>
        JsonSerializer.Serialize(writer, service.GetStatus(), ServingJsonContext.Default.ShardStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = service.GetStatus();
        var labels = $"dict=\"{s.Dict}\",shard=\"{s.Shard.ToString(CultureInfo.InvariantCulture)}\"";
        metrics.Counter("cube_server_requests_total", "Data-plane requests received (all opcodes).", s.Requests, labels);
        metrics.Counter("cube_server_lookups_total", "Lookup requests answered.", s.Lookups, labels);
        metrics.Counter("cube_server_keys_total", "Keys looked up.", s.KeysLookedUp, labels);
        metrics.Counter("cube_server_key_misses_total", "Keys looked up and not found.", s.Misses, labels);
        metrics.Counter("cube_server_errors_total", "Requests answered with an error reply.", s.Errors, labels);
        metrics.Counter("cube_server_version_switches_total", "Live version switches.", s.Switches, labels);
        metrics.Counter("cube_server_socket_reads_total", "Socket reads on the data port (requests per read shows pipelining).", s.Receives, labels);
        metrics.Counter("cube_server_socket_writes_total", "Socket writes on the data port.", s.Sends, labels);
        metrics.Counter("cube_server_received_bytes_total", "Bytes received on the data port.", s.BytesIn, labels);
        metrics.Counter("cube_server_sent_bytes_total", "Bytes sent on the data port.", s.BytesOut, labels);
        metrics.Gauge("cube_server_live_keys", "Keys in the live view (summed over its layers).", s.Keys, labels);
        metrics.Gauge("cube_server_mapped_bytes", "Bytes of shard files mapped by the live view.", s.BytesMapped, labels);
        metrics.Gauge("cube_server_connections", "Open data-plane connections.", s.Connections, labels);
        metrics.Gauge("cube_server_live_layers", "Layers (base + deltas) of the live view; 0 while nothing is live.", s.Layers.Count, labels);
    }
}
