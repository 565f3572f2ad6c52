using System.Net;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>The process's HTTP port and logging, shared by every role it runs.</summary>
public sealed record HostSettings
{
    public IPAddress Bind { get; init; } = IPAddress.Any;

    public int HttpPort { get; init; } = 8001;

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>Time the HTTP host gives requests in flight on shutdown.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(15);
}
