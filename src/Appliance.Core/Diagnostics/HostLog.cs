using Microsoft.Extensions.Logging;

namespace Appliance.Core.Diagnostics;

/// <summary>Process lifecycle messages (event ids 1-99).</summary>
internal static partial class HostLog
{
    [LoggerMessage(6, LogLevel.Error, "watchdog: loop '{Loop}' has not run for {Seconds:F0} s; systemd's watchdog is no longer pinged (the service will be restarted if it does not recover)")]
    public static partial void LoopStalled(ILogger logger, string loop, double seconds);

    [LoggerMessage(5, LogLevel.Information, "RESP (Redis protocol) port {Port}")]
    public static partial void RespListening(ILogger logger, int port);

    [LoggerMessage(1, LogLevel.Information, "ready: data port {Port}, http port {HttpPort}")]
    public static partial void Ready(ILogger logger, int port, int httpPort);

    [LoggerMessage(1, LogLevel.Information, "ready: no data port, http port {HttpPort}")]
    public static partial void ReadyHttpOnly(ILogger logger, int httpPort);

    [LoggerMessage(2, LogLevel.Information, "stopping: draining connections")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(5, LogLevel.Error, "request failed, answered 500: {Message} ({Suppressed} identical failure(s) since the last one logged)")]
    public static partial void RequestFailed(ILogger logger, string message, long suppressed, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "refused {Method} {Path} from {Remote}: missing or wrong bearer token")]
    public static partial void Unauthorized(ILogger logger, string method, string path, string remote);
}
