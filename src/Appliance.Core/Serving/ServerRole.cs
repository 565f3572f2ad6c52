using System.Net;
using Appliance.Core.Diagnostics;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Serving;

/// <summary>
/// The server role: one shard of one dict from a data directory, on the binary data port.
/// The data directory may be a builder's output: the newest complete base of the shard plus its
/// deltas is served, and with <see cref="ServerOptions.WatchSeconds"/> newer versions are picked up
/// as they appear. A version that fails to load is logged and the live one keeps serving.
/// </summary>
public sealed class ServerRole : IHostedService, IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly ILogger _logger;
    private readonly TcpServer _tcp;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _watcher;

    public ServerRole(ServerOptions options, ILoggerFactory loggers)
    {
        _options = options;
        _logger = loggers.CreateLogger("cube.server");
        Table = new LocalTable(options.DataDir, options.Dict, [options.Shard], options.InMemory);
        Service = new ShardService(options.Dict, options.Shard, Store);
        _tcp = new TcpServer(new IPEndPoint(options.Bind, options.Port), new FrameSessionFactory(Service, options.MaxPayloadBytes), new ServerLimits { SendTimeout = options.SendTimeout }, loggers.CreateLogger("cube.net"));
        Service.Connections = () => _tcp.OpenConnections;
        Service.Transport = _tcp.Stats;
    }

    /// <summary>The table this server serves (one shard); the agent role activates versions in it.</summary>
    public LocalTable Table { get; }

    public ShardStore Store => Table.Store(_options.Shard);

    public ShardService Service { get; }

    public int Port => _tcp.Port;

    /// <summary>Loads what the data directory holds (throws if it holds a broken package) and
    /// opens the data port.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Managed && !RefreshFromDataDir() && Store.Live is null)
        {
            ServingLog.NothingToServe(_logger, _options.Dict, _options.Shard, _options.DataDir);
        }

        _tcp.Start();
        if (_options.WatchSeconds > 0)
        {
            _watcher = WatchAsync();
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _tcp.StopAsync().ConfigureAwait(false);
        if (_watcher is not null)
        {
            await _watcher.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _tcp.DisposeAsync().ConfigureAwait(false);
        Table.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Brings the store up to the newest base + deltas in the data directory. Returns
    /// true if the live view changed.</summary>
    public bool RefreshFromDataDir()
    {
        if (!Table.Refresh())
        {
            return false;
        }

        var view = Store.Live!;
        ServingLog.Serving(_logger, _options.Dict, _options.Shard, view.VersionLabel, view.Keys, view.MappedBytes, string.Join('+', view.Layers.Select(l => l.Manifest.Version)));
        return true;
    }

    private async Task WatchAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.WatchSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    RefreshFromDataDir();
                }
                catch (Exception e) when (e is Formats.InputFormatException or IOException or InvalidOperationException)
                {
                    ServingLog.LoadFailed(_logger, _options.Dict, _options.Shard, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
