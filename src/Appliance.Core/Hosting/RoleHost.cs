using System.Net.Sockets;
using Appliance.Core.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>
/// Runs a set of roles in this process, whatever the set: one HTTP host for all of them, and the
/// single start → READY → SIGTERM → STOPPING → drain → dispose sequence. A role that cannot start
/// makes the whole process exit 1 with the reason (the roles already started are stopped first);
/// nothing half-started keeps running.
/// </summary>
internal sealed class RoleHost : IAsyncDisposable
{
    private readonly List<IRole> _roles = [];
    private readonly WebApplication _app;
    private readonly ILogger _log;
    private readonly HostSettings _settings;
    private bool _disposed;

    public RoleHost(HostSettings settings)
    {
        _settings = settings;
        _app = HttpHost.Build(settings, _roles);
        Loggers = _app.Services.GetRequiredService<ILoggerFactory>();
        Http = _app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("cube");
        _log = Loggers.CreateLogger("cube");
    }

    public ILoggerFactory Loggers { get; }

    /// <summary>The process's HTTP client (pooled connections) for roles that call other nodes.</summary>
    public HttpClient Http { get; }

    /// <summary>Adds a role; the host disposes it. Roles start in the order added.</summary>
    public void Add(IRole role) => _roles.Add(role);

    /// <summary>Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean drain,
    /// 1 when a role could not start).</summary>
    public async Task<int> RunAsync()
    {
        var started = new List<IRole>();
        try
        {
            foreach (var role in _roles)
            {
                role.MapRoutes(_app);
            }

            // Kestrel reports a port in use as a critical log line with its whole stack trace;
            // find out first and say it in one line, as the data port does.
            HttpHost.EnsurePortFree(_settings.Bind, _settings.HttpPort);
            if (_settings.Grpc is { } grpc)
            {
                HttpHost.EnsurePortFree(_settings.Bind, grpc.Port, "--grpc-port");
            }

            await _app.StartAsync().ConfigureAwait(false);
            foreach (var role in _roles)
            {
                await role.StartAsync(CancellationToken.None).ConfigureAwait(false);
                started.Add(role);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or SocketException or Formats.InputFormatException or ArgumentException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"cube run: cannot start: {e.Message}");
            await StopAsync(started).ConfigureAwait(false);
            await DisposeAsync().ConfigureAwait(false);
            return 1;
        }

        if (_roles.Select(r => r.RespPort).FirstOrDefault(p => p != 0) is var resp and not 0)
        {
            HostLog.RespListening(_log, resp);
        }

        if (_roles.Select(r => r.DataPort).FirstOrDefault(p => p != 0) is var dataPort and not 0)
        {
            HostLog.Ready(_log, dataPort, HttpHost.BoundPort(_app));
        }
        else
        {
            HostLog.ReadyHttpOnly(_log, HttpHost.BoundPort(_app)); // agent, transfer, proxy, an engine without --port
        }
        SystemdNotifier.Notify("READY=1");
        using (Watchdog.FromEnvironment([.. _roles.SelectMany(r => r.Heartbeats)], _log))
        {
            await _app.WaitForShutdownAsync().ConfigureAwait(false);
        }

        SystemdNotifier.Notify("STOPPING=1");
        HostLog.Stopping(_log);
        await StopAsync(started).ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
        HostLog.Stopped(_log);
        return 0;
    }

    /// <summary>Stops the given roles, last started first (the transfer stops rolling out before the
    /// server it feeds stops serving).</summary>
    private static async Task StopAsync(List<IRole> started)
    {
        for (var i = started.Count - 1; i >= 0; i--)
        {
            await started[i].StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Disposes every role added (last first) and the HTTP host; once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        for (var i = _roles.Count - 1; i >= 0; i--)
        {
            await _roles[i].DisposeAsync().ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
