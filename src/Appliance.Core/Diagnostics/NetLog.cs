using Microsoft.Extensions.Logging;

namespace Appliance.Core.Diagnostics;

/// <summary>Log messages of the data-plane transport (event ids 100-199).</summary>
internal static partial class NetLog
{
    [LoggerMessage(100, LogLevel.Information, "data plane listening on {Endpoint}")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(101, LogLevel.Warning, "accept failed ({Error}); retrying in {DelayMs} ms")]
    public static partial void AcceptBackoff(ILogger logger, string error, int delayMs);

    [LoggerMessage(102, LogLevel.Debug, "connection from {Remote} ended: {Reason}")]
    public static partial void ConnectionEnded(ILogger logger, string remote, string reason);

    [LoggerMessage(103, LogLevel.Information, "data plane draining: {Connections} connection(s) open")]
    public static partial void Draining(ILogger logger, int connections);

    [LoggerMessage(104, LogLevel.Warning, "data plane drain timed out; closing {Connections} connection(s)")]
    public static partial void DrainTimedOut(ILogger logger, int connections);

    [LoggerMessage(105, LogLevel.Warning, "refusing connection from {Remote}: {Why}")]
    public static partial void TooManyConnections(ILogger logger, string remote, string why);
}
