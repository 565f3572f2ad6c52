namespace Appliance.Core.Brpc;

/// <summary>An RpcMeta error: brpc's error code (<see cref="BrpcError"/>) and text.</summary>
internal sealed class BrpcCallException(int code, string text) : Exception($"error {code}: {text}")
{
    public int Code { get; } = code;
}
