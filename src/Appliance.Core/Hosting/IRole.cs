using System.Text.Json;
using Appliance.Core.Diagnostics;
using Microsoft.AspNetCore.Routing;

namespace Appliance.Core.Hosting;

/// <summary>
/// What the host needs of a role (server, agent, transfer, engine): its HTTP routes, a start and a
/// stop, and its part of <c>GET /status</c> and <c>GET /metrics</c>. The host owns the order:
/// routes are mapped, the HTTP port opens, roles start in the order added, READY=1; on SIGTERM
/// STOPPING=1, roles stop (drain) in reverse order, then are disposed.
/// </summary>
internal interface IRole : IAsyncDisposable
{
    /// <summary>"server", "agent", "transfer", "engine": the key of this role's object in /status.</summary>
    string Name { get; }

    /// <summary>The binary data port this role listens on once started (0: none).</summary>
    int DataPort { get; }

    /// <summary>The RESP (Redis protocol) port this role listens on once started (0: none).</summary>
    int RespPort => 0;

    /// <summary>The role's long-running loops, for the systemd watchdog (none: only the process's
    /// own liveness counts).</summary>
    IEnumerable<Heartbeat> Heartbeats => [];

    void MapRoutes(IEndpointRouteBuilder routes);

    /// <summary>Loads what the role serves and opens its ports or loops; throws when it cannot
    /// (the host reports the message and exits 1).</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops taking new work and finishes (bounded) what was accepted.</summary>
    Task StopAsync(CancellationToken cancellationToken);

    void WriteStatus(Utf8JsonWriter writer);

    void WriteMetrics(MetricsWriter metrics);
}
