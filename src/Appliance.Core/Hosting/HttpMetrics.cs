using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Appliance.Core.Diagnostics;

namespace Appliance.Core.Hosting;

/// <summary>
/// The HTTP port's own numbers, taken from the instruments ASP.NET Core already has (a
/// <see cref="MeterListener"/> on the host's meter factory, so nothing is timed twice):
/// <list type="bullet">
/// <item><c>kestrel.rejected_connections</c>: connections refused at <c>--http-max-connections</c>.</item>
/// <item><c>kestrel.connection.duration</c> with <c>error.type</c>: connections Kestrel closed for a
/// reason (request_headers_timeout for a slow-loris client, min_request_body_data_rate,
/// max_request_body_size_exceeded, invalid_request_headers …), counted per reason.</item>
/// <item><c>http.server.request.duration</c>: requests per route and status code, and a latency
/// histogram per route (routes are the templates the roles map, so the label stays small).</item>
/// </list>
/// </summary>
internal sealed class HttpMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly object _scope;
    private long _rejected;
    private readonly ConcurrentDictionary<string, long> _connectionErrors = new();
    private readonly ConcurrentDictionary<(string Route, int Code), long> _responses = new();
    private readonly ConcurrentDictionary<string, LatencyHistogram> _latency = new();

    /// <param name="scope">The host's <c>IMeterFactory</c>: only its meters are read (tests run several hosts in one process).</param>
    public HttpMetrics(object scope)
    {
        _scope = scope;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == _scope && instrument.Name is "kestrel.rejected_connections" or "kestrel.connection.duration" or "http.server.request.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "kestrel.rejected_connections")
            {
                Interlocked.Add(ref _rejected, value);
            }
        });
        _listener.SetMeasurementEventCallback<double>(OnDuration);
        _listener.Start();
    }

    public long RejectedConnections => Interlocked.Read(ref _rejected);

    public void Write(MetricsWriter metrics)
    {
        metrics.Counter("cube_http_refusals_total", "HTTP connections refused, by reason (max_connections: over --http-max-connections).", RejectedConnections, "reason=\"max_connections\"");
        foreach (var (reason, count) in _connectionErrors.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            metrics.Counter("cube_http_connection_errors_total", "HTTP connections the server closed on an error, by reason (Kestrel's error.type).", count, $"reason=\"{MetricsWriter.Escape(reason)}\"");
        }

        foreach (var ((route, code), count) in _responses.OrderBy(e => e.Key.Route, StringComparer.Ordinal).ThenBy(e => e.Key.Code))
        {
            metrics.Counter("cube_http_requests_total", "HTTP requests answered, by route and status code.", count, $"route=\"{MetricsWriter.Escape(route)}\",code=\"{code}\"");
        }

        foreach (var (route, histogram) in _latency.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            metrics.Histogram("cube_http_request_duration_seconds", "HTTP request latency in seconds, by route.", histogram, $"route=\"{MetricsWriter.Escape(route)}\"");
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnDuration(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (instrument.Name == "kestrel.connection.duration")
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "error.type" && tag.Value is string reason)
                {
                    _connectionErrors.AddOrUpdate(reason, 1, (_, n) => n + 1);
                }
            }

            return;
        }

        string route = "unmatched";
        var code = 0;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "http.route" when tag.Value is string r:
                    route = r;
                    break;
                case "http.response.status_code" when tag.Value is int c:
                    code = c;
                    break;
            }
        }

        _responses.AddOrUpdate((route, code), 1, (_, n) => n + 1);
        _latency.GetOrAdd(route, _ => new LatencyHistogram()).Observe(seconds);
    }
}
