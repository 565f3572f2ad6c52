using Appliance.Core.Engine.Grpc.Health;
using Grpc.Core;

namespace Appliance.Core.Engine.Grpc;

/// <summary>
/// gRPC's health protocol (<c>grpc.health.v1.Health</c>) for Kubernetes gRPC probes and Envoy:
/// the server as a whole ("") and <c>inference.GRPCInferenceService</c> are SERVING once the
/// engine is ready (every model loaded and its table answering: what /status calls ready), else
/// NOT_SERVING. Check on another service is NOT_FOUND; Watch on one sends SERVICE_UNKNOWN, then
/// every change, as the protocol asks. When the engine stops (SIGTERM) every watch is told
/// NOT_SERVING and ended at once: a probe's open stream never holds the drain up.
/// </summary>
internal sealed class HealthService(EngineRole engine, GrpcStats stats, CancellationToken stopping) : Health.Health.HealthBase
{
    public const string Inference = "inference.GRPCInferenceService";

    /// <summary>How often a watch looks at readiness again.</summary>
    private static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(500);

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        stats.Run(nameof(Check), () => Known(request.Service)
            ? new HealthCheckResponse { Status = Current() }
            : throw new RpcException(new Status(StatusCode.NotFound, $"service '{request.Service}' is not served here ('' or {Inference})")));

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        await stats.RunAsync(nameof(Watch), async () =>
        {
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
            var token = watching.Token;
            var last = (HealthCheckResponse.Types.ServingStatus)(-1);
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var now = Known(request.Service) ? Current() : HealthCheckResponse.Types.ServingStatus.ServiceUnknown;
                    if (now != last)
                    {
                        await responseStream.WriteAsync(new HealthCheckResponse { Status = now }, token).ConfigureAwait(false);
                        last = now;
                    }

                    await Task.Delay(WatchInterval, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // the client went away, or the engine stops
            }

            if (stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                await responseStream.WriteAsync(new HealthCheckResponse { Status = HealthCheckResponse.Types.ServingStatus.NotServing }, context.CancellationToken).ConfigureAwait(false);
            }

            return true;
        }).ConfigureAwait(false);
    }

    private static bool Known(string service) => service is "" or Inference;

    private HealthCheckResponse.Types.ServingStatus Current() =>
        engine.NotReadyReason() is null ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing;
}
