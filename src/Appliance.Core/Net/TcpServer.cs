using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Net;

/// <summary>
/// The data-plane listener: accepts TCP connections and runs each as an async loop on the thread
/// pool (no thread per connection; one core can carry all of them). Stopping refuses new
/// connections, lets every open one finish the requests it has received, then closes them.
/// </summary>
internal sealed class TcpServer : IAsyncDisposable
{
    private const int SolSocket = 1; // <sys/socket.h> on Linux
    private const int SoReuseAddr = 2;

    private readonly IPEndPoint _endpoint;
    private readonly ISessionFactory _sessions;
    private readonly ServerLimits _limits;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perPeer = new();
    private readonly ConcurrentDictionary<Socket, Connection> _live = new();
    private readonly BufferBudget _budget;
    private readonly RepeatLimiter _refusals = new(TimeSpan.FromSeconds(10));
    private Socket? _listener;
    private Task? _acceptLoop;
    private Task? _sweep;

    public TcpServer(IPEndPoint endpoint, ISessionFactory sessions, ServerLimits limits, ILogger logger)
    {
        _endpoint = endpoint;
        _sessions = sessions;
        _limits = limits;
        _logger = logger;
        _budget = new BufferBudget(limits.MaxBufferedBytes);
    }

    /// <summary>Receive memory held now beyond each connection's first buffer.</summary>
    public long BufferedBytes => _budget.Held;

    public int Port { get; private set; }

    public int OpenConnections => _connections.Count;

    public TransportStats Stats { get; } = new();

    /// <summary>Beats once a second from the sweep (the port's timers and thread pool are alive).</summary>
    public Diagnostics.Heartbeat Heartbeat { get; } = new("data port", TimeSpan.FromSeconds(15));

    /// <summary>Binds and listens (throws if the port is taken), then accepts in the background.</summary>
    public void Start()
    {
        var listener = new Socket(_endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone (a restart may bind while old connections sit in TIME_WAIT), never
            // SO_REUSEPORT: .NET's ReuseAddress option sets both on Linux, and with SO_REUSEPORT a
            // second server on the same port starts and the kernel splits clients between the two.
            if (OperatingSystem.IsLinux())
            {
                listener.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            }

            listener.Bind(_endpoint);
            listener.Listen(1024);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            listener.Dispose();
            throw new IOException($"data port {_endpoint.Port} on {_endpoint.Address} is already in use (another process listens there)", e);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        NetLog.Listening(_logger, listener.LocalEndPoint!.ToString()!);
        _acceptLoop = AcceptLoopAsync(listener);
        _sweep = SweepAsync();
    }

    /// <summary>Once a second: closes connections idle or holding half a request for too long.</summary>
    private async Task SweepAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                Heartbeat.Beat();
                var now = System.Diagnostics.Stopwatch.GetTimestamp();
                foreach (var connection in _live.Values)
                {
                    connection.CloseIfExpired(now);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        NetLog.Draining(_logger, _connections.Count);
        _stopping.Cancel();
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        if (_sweep is not null)
        {
            await _sweep.ConfigureAwait(false);
        }

        var all = Task.WhenAll(_connections.Values);
        if (await Task.WhenAny(all, Task.Delay(_limits.DrainTimeout)).ConfigureAwait(false) != all)
        {
            NetLog.DrainTimedOut(_logger, _connections.Count);
            foreach (var socket in _connections.Keys)
            {
                socket.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of descriptors or buffers: back off instead of spinning; existing
                // connections keep being served.
                NetLog.AcceptBackoff(_logger, e.SocketErrorCode.ToString(), 100);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            catch (SocketException e)
            {
                // A connection reset before we accepted it, and the like: transient.
                NetLog.AcceptBackoff(_logger, e.SocketErrorCode.ToString(), 0);
                continue;
            }

            var peer = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (_connections.Count >= _limits.MaxConnections && !EvictLongestIdle())
            {
                Stats.RefuseAtLimit();
                Refused(socket, $"{_connections.Count} connections open, none idle (--max-connections {_limits.MaxConnections})");
                continue;
            }

            if (_perPeer.AddOrUpdate(peer, 1, (_, n) => n + 1) > _limits.MaxConnectionsPerPeer)
            {
                Leave(peer);
                Stats.RefusePerPeer();
                Refused(socket, $"{peer} already has {_limits.MaxConnectionsPerPeer} connections open (--max-connections-per-peer)");
                continue;
            }

            socket.NoDelay = true;
            var task = RunConnectionAsync(socket, peer);
            _connections[socket] = task;
            if (task.IsCompleted)
            {
                _connections.TryRemove(socket, out _); // it ended before it was registered
            }
        }
    }

    /// <summary>Full: the connection idle the longest makes room (its client reconnects; a new
    /// client is never locked out by sockets that send nothing). False if every one is busy.</summary>
    private bool EvictLongestIdle()
    {
        Connection? oldest = null;
        long since = long.MaxValue;
        foreach (var connection in _live.Values)
        {
            var idle = connection.IdleSince;
            if (idle != 0 && idle < since)
            {
                (oldest, since) = (connection, idle);
            }
        }

        if (oldest is null)
        {
            return false;
        }

        Stats.EvictIdle();
        oldest.Evict($"evicted: the oldest idle connection while {_limits.MaxConnections} were open (--max-connections)");
        return true;
    }

    private void Refused(Socket socket, string why)
    {
        if (_refusals.ShouldLog(why.Split(' ')[0], out var heldBack))
        {
            NetLog.TooManyConnections(_logger, socket.RemoteEndPoint?.ToString() ?? "?", $"{why}; {heldBack} more refused since the last line");
        }

        socket.Dispose();
    }

    private void Leave(IPAddress peer)
    {
        if (_perPeer.AddOrUpdate(peer, 0, (_, n) => n - 1) <= 0)
        {
            _perPeer.TryRemove(new KeyValuePair<IPAddress, int>(peer, 0));
        }
    }

    private async Task RunConnectionAsync(Socket socket, IPAddress peer)
    {
        await Task.Yield(); // leave the accept loop before the first receive
        var remote = socket.RemoteEndPoint?.ToString() ?? "?";
        var reason = "closed by peer";
        try
        {
            using var connection = new Connection(socket, _limits, Stats, _budget);
            _live[socket] = connection;
            var session = _sessions.Create(connection);
            await connection.RunAsync(session, _stopping.Token).ConfigureAwait(false);
            reason = connection.ClosedBecause ?? reason;
            await session.DrainAsync(_limits.DrainTimeout).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            reason = e.SocketErrorCode.ToString();
        }
        catch (ObjectDisposedException)
        {
            reason = "closed at shutdown";
        }
        finally
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // already gone
            }

            socket.Dispose();
            _connections.TryRemove(socket, out _);
            _live.TryRemove(socket, out _);
            Leave(peer);
            NetLog.ConnectionEnded(_logger, remote, reason);
        }
    }
}
