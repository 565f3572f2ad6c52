using System.Net.Sockets;
using Appliance.Core.Buffers;
using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Client;

/// <summary>
/// One pipelined connection to a data-plane server. Any number of requests may be in flight;
/// replies are matched to callers by request id, in whatever order they come. Requests written
/// while a send is in progress are coalesced into the next send. When the connection fails, every
/// request in flight on it fails with <see cref="ConnectionFailedException"/>.
/// </summary>
internal sealed class ClientConnection : IAsyncDisposable
{
    /// <summary>Largest reply accepted (a reply carries the values, so it may exceed a request).</summary>
    public const int MaxReplyPayload = 256 << 20;

    private readonly Socket _socket;
    private readonly object _lock = new();
    /// <summary>A request unanswered this long is failed and forgotten, so a server that hangs
    /// while keeping its connection open cannot make the client hold requests forever.</summary>
    public static readonly TimeSpan MaxPendingAge = TimeSpan.FromSeconds(30);

    private readonly Dictionary<uint, (TaskCompletionSource<Reply> Reply, long Since)> _waiting = [];
    private readonly Timer _sweeper;
    private int _sweeperStopped;
    /// <summary>Non-null while this thread is corked (see <see cref="Cork"/>): connections that got
    /// requests meanwhile, to be flushed when the cork is removed.</summary>
    [ThreadStatic]
    private static List<ClientConnection>? t_corked;

    private bool _deferred;

    private FrameBuffer _pending = new();
    private FrameBuffer _sending = new();
    private bool _writing;
    private uint _nextId;
    private Exception? _failure;
    private readonly Task _readLoop;

    private ClientConnection(Socket socket, NodeAddress address)
    {
        _socket = socket;
        Address = address;
        // The sweeper first: a read loop that fails at once (the peer closed already) stops it
        // from Fail, which ran into a null timer when the loop started first (a flaky NRE in CI).
        _sweeper = new Timer(static c => ((ClientConnection)c!).Sweep(), this, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        _readLoop = ReadLoopAsync();
    }

    public NodeAddress Address { get; }

    public bool IsHealthy => Volatile.Read(ref _failure) is null;

    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    public static async Task<ClientConnection> ConnectAsync(NodeAddress address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(address.Host, address.Port, limit.Token).ConfigureAwait(false);
            return new ClientConnection(socket, address);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            var why = e is OperationCanceledException ? $"no connection within {timeout.TotalMilliseconds:F0} ms" : e.Message;
            throw new ConnectionFailedException($"{address}: connect failed: {why}", e);
        }
    }

    /// <summary>Sends one request whose frame <paramref name="write"/> puts into the buffer with the
    /// given request id; completes with the reply. Cancelling forgets the request (a late reply is dropped).</summary>
    public Task<Reply> SendAsync<TState>(TState state, Action<FrameBuffer, uint, TState> write, CancellationToken cancellationToken = default)
    {
        // Continuations run on the read loop when the reply arrives (no thread hop per reply).
        // They must not block: callers only parse the reply and issue further requests.
        var reply = new TaskCompletionSource<Reply>();
        uint id;
        bool startWriter;
        lock (_lock)
        {
            if (_failure is not null)
            {
                return Task.FromException<Reply>(new ConnectionFailedException($"{Address}: connection failed: {_failure.Message}", _failure));
            }

            id = ++_nextId;
            write(_pending, id, state);
            _waiting[id] = (reply, Environment.TickCount64);
            startWriter = !_writing && t_corked is null;
            _writing |= startWriter;
            if (!_writing && !_deferred && t_corked is { } corked)
            {
                _deferred = true;
                corked.Add(this);
            }
        }

        if (startWriter)
        {
            _ = WriteLoopAsync();
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() => Forget(id, cancellationToken));
            _ = reply.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return reply.Task;
    }

    public Task<Reply> LookupAsync(string dict, ReadOnlyMemory<ulong> keys, CancellationToken cancellationToken = default) =>
        SendAsync((dict, keys), static (buffer, id, s) => LookupCodec.WriteRequest(buffer, id, s.dict, s.keys.Span), cancellationToken);

    public Task<Reply> PingAsync(CancellationToken cancellationToken = default) =>
        SendAsync(0, static (buffer, id, _) =>
        {
            buffer.BeginFrame(Opcode.Ping, FrameFlags.None, id);
            buffer.EndFrame();
        }, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _sweeperStopped, 1) == 0)
        {
            await _sweeper.DisposeAsync().ConfigureAwait(false);
        }

        Fail(new ConnectionFailedException($"{Address}: connection closed by the client"));
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // closing
        }
    }

    private void Forget(uint id, CancellationToken token)
    {
        (TaskCompletionSource<Reply> Reply, long) entry;
        bool found;
        lock (_lock)
        {
            found = _waiting.Remove(id, out entry);
        }

        if (found)
        {
            entry.Reply.TrySetCanceled(token);
        }
    }

    private void Sweep()
    {
        var cutoff = Environment.TickCount64 - (long)MaxPendingAge.TotalMilliseconds;
        List<TaskCompletionSource<Reply>>? expired = null;
        lock (_lock)
        {
            foreach (var (id, (reply, since)) in _waiting)
            {
                if (since < cutoff)
                {
                    (expired ??= []).Add(reply);
                    _waiting.Remove(id);
                }
            }
        }

        foreach (var reply in expired ?? [])
        {
            reply.TrySetException(new TimeoutException($"{Address}: no reply within {MaxPendingAge.TotalSeconds:F0} s"));
        }
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                lock (_lock)
                {
                    if (_pending.Length == 0 || _failure is not null)
                    {
                        _writing = false;
                        return;
                    }

                    (_pending, _sending) = (_sending, _pending);
                }

                var bytes = _sending.Written;
                while (!bytes.IsEmpty)
                {
                    var sent = await _socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false);
                    bytes = bytes[sent..];
                }

                _sending.Clear();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Fail(e);
            lock (_lock)
            {
                _writing = false;
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        var input = new ReceiveBuffer(64 << 10);
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveAsync(input.Free, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    Fail(new ConnectionFailedException($"{Address}: the server closed the connection"));
                    return;
                }

                input.Commit(received);
                bool valid;
                int consumed;
                int needed;
                using (Cork())
                {
                    // Requests issued by the continuations of this batch of replies go out
                    // together when the cork comes off.
                    valid = DeliverFrames(input.Data, out consumed, out needed);
                }

                if (!valid)
                {
                    return;
                }

                input.Consume(consumed);
                input.Compact(needed);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Fail(e);
        }
    }

    /// <summary>Completes the callers of every whole reply at the front of <paramref name="data"/>;
    /// false (and the connection failed) if the bytes are not valid replies.</summary>
    private bool DeliverFrames(ReadOnlySpan<byte> data, out int consumed, out int needed)
    {
        consumed = 0;
        needed = 0;
        while (true)
        {
            var available = data[consumed..];
            var scan = FrameScanner.TryScan(available, MaxReplyPayload, out var header, out var error);
            if (scan == ScanResult.NeedMoreData)
            {
                needed = header.FrameLength;
                return true;
            }

            if (scan == ScanResult.InvalidData || !header.IsResponse)
            {
                Fail(new ConnectionFailedException($"{Address}: invalid reply: {error ?? "not a response frame"}"));
                return false;
            }

            Complete(header, available.Slice(FrameHeader.Size, header.PayloadLength));
            consumed += header.FrameLength;
        }
    }

    /// <summary>
    /// Until the returned scope is disposed, requests this thread sends on any connection are
    /// queued, then each connection writes its queue with one send. The read loop corks while it
    /// delivers a reply, so the requests its continuations issue go out together; a caller that
    /// starts many requests at once can cork too. Nested corks are no-ops.
    /// </summary>
    public static CorkScope Cork()
    {
        if (t_corked is not null)
        {
            return default;
        }

        t_corked = [];
        return new CorkScope(true);
    }

    /// <summary>Removes the cork and flushes what it held back.</summary>
    public readonly struct CorkScope(bool owner) : IDisposable
    {
        public void Dispose()
        {
            if (!owner || t_corked is not { } corked)
            {
                return;
            }

            t_corked = null;
            foreach (var connection in corked)
            {
                connection.FlushDeferred();
            }
        }
    }

    private void FlushDeferred()
    {
        lock (_lock)
        {
            _deferred = false;
            if (_writing || _pending.Length == 0)
            {
                return;
            }

            _writing = true;
        }

        _ = WriteLoopAsync();
    }

    private void Complete(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        (TaskCompletionSource<Reply> Reply, long) waiting;
        bool found;
        lock (_lock)
        {
            found = _waiting.Remove(header.RequestId, out waiting);
        }

        if (!found)
        {
            return; // the caller gave up on it (timeout or cancel)
        }

        var reply = new Reply(header, payload);
        if (!waiting.Reply.TrySetResult(reply))
        {
            reply.Dispose();
        }
    }

    private void Fail(Exception cause)
    {
        List<TaskCompletionSource<Reply>> failed;
        lock (_lock)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = cause;
            failed = [.. _waiting.Values.Select(w => w.Reply)];
            _waiting.Clear();
        }

        _socket.Dispose();
        if (Interlocked.Exchange(ref _sweeperStopped, 1) == 0)
        {
            // Once: the read loop failing and DisposeAsync may race to stop it (a second stop of
            // a timer being disposed asynchronously threw out of DisposeAsync).
            _sweeper.Dispose();
        }

        var error = cause as ConnectionFailedException ?? new ConnectionFailedException($"{Address}: connection failed: {cause.Message}", cause);
        foreach (var waiting in failed)
        {
            waiting.TrySetException(error);
        }
    }
}
