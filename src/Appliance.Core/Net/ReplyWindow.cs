namespace Appliance.Core.Net;

/// <summary>
/// The replies one connection owes that finish after their request was consumed (the engine's
/// predict, the proxy's lookups, RESP replies queued behind them), bounded so a client that
/// pipelines without reading cannot make the server hold replies without end. A session asks
/// <see cref="HasRoom"/> before it takes such a request; when there is none it stops consuming,
/// and the connection stops reading the socket until a pending reply has been sent (the kernel's
/// buffers then push back on the client). Counted twice: replies in flight, and the bytes of
/// those already computed and waiting to be sent. One request is always admitted when none is
/// pending, so a single large request is never refused here.
/// </summary>
internal sealed class ReplyWindow(int maxReplies, long maxBytes)
{
    private readonly Lock _lock = new();
    private int _replies;
    private long _bytes;
    private TaskCompletionSource? _room;

    /// <summary>A window that never fills (tests, sessions without late replies).</summary>
    public static ReplyWindow Unbounded() => new(int.MaxValue, long.MaxValue);

    public int Replies
    {
        get
        {
            lock (_lock)
            {
                return _replies;
            }
        }
    }

    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    public bool HasRoom
    {
        get
        {
            lock (_lock)
            {
                return RoomLocked();
            }
        }
    }

    /// <summary>A reply will come later: counts it until <see cref="Sent"/>.</summary>
    public void Enter()
    {
        lock (_lock)
        {
            _replies++;
        }
    }

    /// <summary>The pending reply is computed and holds <paramref name="bytes"/> until sent.</summary>
    public void Computed(long bytes)
    {
        lock (_lock)
        {
            _bytes += bytes;
        }
    }

    /// <summary>The reply left (or its connection failed): releases what it counted.</summary>
    public void Sent(long bytes)
    {
        TaskCompletionSource? room;
        lock (_lock)
        {
            _replies--;
            _bytes -= bytes;
            room = RoomLocked() ? _room : null;
            if (room is not null)
            {
                _room = null;
            }
        }

        room?.TrySetResult();
    }

    /// <summary>Completes when <see cref="HasRoom"/> is true.</summary>
    public Task WaitForRoomAsync()
    {
        lock (_lock)
        {
            if (RoomLocked())
            {
                return Task.CompletedTask;
            }

            _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _room.Task;
        }
    }

    private bool RoomLocked() => _replies == 0 || (_replies < maxReplies && _bytes < maxBytes);
}
