using System.Net;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>The process's HTTP port and logging, shared by every role it runs.</summary>
internal sealed record HostSettings
{
    public IPAddress Bind { get; init; } = IPAddress.Any;

    public int HttpPort { get; init; } = 8001;

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>--log-format json: one JSON object per event (journald, Loki), exceptions whole
    /// and escaped; text: one line per event (a terminal gets exceptions on their own lines).</summary>
    public bool JsonLogs { get; init; }

    /// <summary>An identical warning or error is written at most once per this interval, the
    /// next one with the count held back (--log-repeat-seconds; zero: every one).</summary>
    public TimeSpan LogRepeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time the HTTP host gives requests in flight on shutdown.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public HttpLimits Limits { get; init; } = new();

    /// <summary>A second port speaking gRPC (HTTP/2 cleartext only), or null.</summary>
    public GrpcSettings? Grpc { get; init; }
}

/// <summary>The gRPC port: its limits and the services behind it (added to the host's services
/// before it is built; mapped by the role that owns them).</summary>
internal sealed record GrpcSettings
{
    public required int Port { get; init; }

    public required int MaxMessageBytes { get; init; }

    public required int MaxStreamsPerConnection { get; init; }

    public required Action<Microsoft.Extensions.DependencyInjection.IServiceCollection> AddServices { get; init; }
}

/// <summary>
/// The HTTP port's bounds (docs/limits.md), each a flag of <c>cube run</c>. What a client sees:
/// over <see cref="MaxConnections"/> the connection is closed at once; headers slower than
/// <see cref="HeaderTimeout"/> (a slow-loris client) or a body under 240 bytes/s after 5 s: the
/// connection is closed; a body over <see cref="MaxBodyBytes"/>: 413. Routes that take larger
/// bodies (/predict) raise the body limit for themselves.
/// </summary>
internal sealed record HttpLimits
{
    /// <summary>--http-max-connections: open HTTP connections (keep-alive ones included).</summary>
    public int MaxConnections { get; init; } = 4096;

    /// <summary>--http-header-timeout-seconds: time to receive a request's line and headers.</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>--http-idle-seconds: a keep-alive connection with no request is closed after this.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>--http-max-body-kb: request body size on every route that does not set its own.</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Request line and headers together (Kestrel's default; 431 above it).</summary>
    public const int MaxHeaderBytes = 32 << 10;
}
