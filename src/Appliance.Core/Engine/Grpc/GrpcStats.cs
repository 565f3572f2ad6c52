using System.Collections.Concurrent;
using System.Diagnostics;
using Appliance.Core.Diagnostics;
using Grpc.Core;

namespace Appliance.Core.Engine.Grpc;

/// <summary>
/// Per-method counts (by gRPC status code) and latency of the engine's gRPC port, for /metrics.
/// Every handler runs through <see cref="RunAsync{T}"/>, which is also the one place a refusal
/// becomes a gRPC status (<see cref="GrpcStatus"/>).
/// </summary>
internal sealed class GrpcStats
{
    private readonly ConcurrentDictionary<(string Method, StatusCode Code), long> _calls = new();
    private readonly ConcurrentDictionary<string, LatencyHistogram> _latency = new();

    public async Task<T> RunAsync<T>(string method, Func<Task<T>> handler)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            return await handler().ConfigureAwait(false);
        }
        catch (Oip.OipException e)
        {
            code = GrpcStatus.Of(e);
            throw new RpcException(new Status(code, e.Message));
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch (OperationCanceledException)
        {
            code = StatusCode.Cancelled;
            throw;
        }
        finally
        {
            _calls.AddOrUpdate((method, code), 1, (_, n) => n + 1);
            _latency.GetOrAdd(method, _ => new LatencyHistogram()).Observe(Stopwatch.GetElapsedTime(started));
        }
    }

    public Task<T> Run<T>(string method, Func<T> handler) => RunAsync(method, () => Task.FromResult(handler()));

    public void Write(MetricsWriter metrics)
    {
        foreach (var ((method, code), count) in _calls.OrderBy(c => c.Key.Method, StringComparer.Ordinal).ThenBy(c => c.Key.Code))
        {
            metrics.Counter("cube_engine_grpc_requests_total", "gRPC calls answered, by method and status code.", count, $"method=\"{method}\",code=\"{code}\"");
        }

        foreach (var (method, histogram) in _latency.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            metrics.Histogram("cube_engine_grpc_request_duration_seconds", "gRPC call latency in seconds, by method.", histogram, $"method=\"{method}\"");
        }
    }
}
