using Appliance.Core.Protocol;

namespace Appliance.Core.Client;

/// <summary>A server answered a request with an error reply.</summary>
internal sealed class ServerErrorException(string server, ErrorCode code, string message)
    : Exception($"{server}: {code}: {message}")
{
    public ErrorCode Code { get; } = code;

    /// <summary>Worth trying on another replica (the request itself was fine).</summary>
    public bool IsRetryable => Code is ErrorCode.NotReady or ErrorCode.Internal;
}
