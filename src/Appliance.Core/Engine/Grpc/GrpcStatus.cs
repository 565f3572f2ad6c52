using Grpc.Core;

namespace Appliance.Core.Engine.Grpc;

/// <summary>How a refusal is answered on gRPC (the REST endpoint's HTTP status, mapped once):
/// unknown model or version NOT_FOUND, a bad tensor INVALID_ARGUMENT, over a limit
/// RESOURCE_EXHAUSTED, not ready (waiting for the table, a table mismatch, a shard down) UNAVAILABLE.
/// The message is the REST endpoint's.</summary>
internal static class GrpcStatus
{
    public static StatusCode Of(Oip.OipException e) => e.OverLimit ? StatusCode.ResourceExhausted : e.Status switch
    {
        404 => StatusCode.NotFound,
        413 => StatusCode.ResourceExhausted,
        503 => StatusCode.Unavailable,
        _ => StatusCode.InvalidArgument,
    };

    public static StatusCode Of(Refusal refusal) => refusal.Kind switch
    {
        RefusalKind.BadRequest => StatusCode.InvalidArgument,
        RefusalKind.OverLimit => StatusCode.ResourceExhausted,
        _ => StatusCode.Unavailable,
    };
}
