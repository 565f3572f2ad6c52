using Appliance.Core.Net;

namespace Appliance.Core.Client;

/// <summary>
/// A few pipelined connections to one replica, used round-robin and reconnected on demand. After a
/// failed connect the replica is marked down for a back-off (100 ms doubling to 2 s) so callers
/// fail over at once instead of waiting on a dead host.
/// </summary>
internal sealed class ReplicaPool : IAsyncDisposable
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);

    private readonly Task<ClientConnection>?[] _connections;
    private readonly object _lock = new();
    private readonly TimeSpan _connectTimeout;
    private int _next;
    private long _downUntilTicks;
    private TimeSpan _backoff = TimeSpan.FromMilliseconds(100);

    public ReplicaPool(NodeAddress address, int connections, TimeSpan connectTimeout)
    {
        Address = address;
        _connections = new Task<ClientConnection>?[Math.Max(1, connections)];
        _connectTimeout = connectTimeout;
    }

    public NodeAddress Address { get; }

    public bool IsDown => Environment.TickCount64 < Interlocked.Read(ref _downUntilTicks);

    /// <summary>Requests in flight on this replica's open connections (for the "la" balancer).</summary>
    public int InFlight
    {
        get
        {
            var total = 0;
            foreach (var task in _connections)
            {
                if (task is { IsCompletedSuccessfully: true } t)
                {
                    total += t.Result.InFlight;
                }
            }

            return total;
        }
    }

    public Task<ClientConnection> GetAsync()
    {
        lock (_lock)
        {
            var slot = _next++ % _connections.Length;
            var current = _connections[slot];
            if (current is not null && (!current.IsCompleted || (current.IsCompletedSuccessfully && current.Result.IsHealthy)))
            {
                return current;
            }

            if (IsDown)
            {
                return Task.FromException<ClientConnection>(new ConnectionFailedException($"{Address}: marked down after a failed connect; retrying in ≤ {_backoff.TotalMilliseconds:F0} ms"));
            }

            if (current is { IsCompletedSuccessfully: true })
            {
                _ = current.Result.DisposeAsync().AsTask();
            }

            var connecting = ConnectAsync();
            _connections[slot] = connecting;
            return connecting;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var task in _connections)
        {
            if (task is not null)
            {
                try
                {
                    await (await task.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
                }
                catch (ConnectionFailedException)
                {
                    // never connected
                }
            }
        }
    }

    private async Task<ClientConnection> ConnectAsync()
    {
        try
        {
            var connection = await ClientConnection.ConnectAsync(Address, _connectTimeout, CancellationToken.None).ConfigureAwait(false);
            lock (_lock)
            {
                _backoff = TimeSpan.FromMilliseconds(100);
            }

            return connection;
        }
        catch (ConnectionFailedException)
        {
            lock (_lock)
            {
                Interlocked.Exchange(ref _downUntilTicks, Environment.TickCount64 + (long)_backoff.TotalMilliseconds);
                _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
            }

            throw;
        }
    }
}
