using System.Net.Sockets;
using Appliance.Core.Buffers;

namespace Appliance.Core.Net;

/// <summary>
/// One accepted connection, bytes only: receive into a <see cref="ReceiveBuffer"/>, offer the
/// bytes to the session, send what it answered, close when it says so or the peer goes. When
/// more bytes are already waiting, they are read before replying, so a pipelining client gets all
/// its answers with one send (each send costs a system call and a wake-up of the peer).
/// Bounded on every side (<see cref="ServerLimits"/>): a connection between requests holds no
/// receive buffer (it waits for data with a zero-byte read and takes a pooled one when bytes
/// arrive); one that sends nothing for the idle timeout, or half a request for the frame timeout,
/// is closed; room for a request larger than the first buffer comes from the listener's shared
/// <see cref="BufferBudget"/> and goes back once it is answered.
/// </summary>
internal sealed partial class Connection : IReplySink, IDisposable
{
    private const int InitialBuffer = 64 << 10;
    private const int CoalesceLimit = 32 << 10;
    private const int SendSlice = 256 << 10;

    private readonly Socket _socket;
    private readonly ServerLimits _limits;
    private readonly TransportStats _stats;
    private readonly BufferBudget _budget;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _sendCancel = new();
    private long _budgeted;

    public Connection(Socket socket, ServerLimits limits, TransportStats stats, BufferBudget budget)
    {
        _socket = socket;
        _limits = limits;
        _stats = stats;
        _budget = budget;
        Window = new ReplyWindow(limits.MaxPendingReplies, limits.MaxPendingReplyBytes);
    }

    /// <summary>Why the connection ended, when the server ended it.</summary>
    public string? ClosedBecause { get; private set; }

    /// <summary>When the connection began waiting for its next request (a Stopwatch timestamp),
    /// or 0 while a request is in progress.</summary>
    public long IdleSince => Volatile.Read(ref _idleSince);

    /// <summary>When the first byte of the incomplete request at the front arrived, or 0.</summary>
    public long FrameStarted => Volatile.Read(ref _frameStarted);

    private long _idleSince;
    private long _frameStarted;

    /// <summary>How long (Stopwatch ticks) the client took to send its next request last time.</summary>
    private long _lastGap = long.MaxValue;

    /// <summary>Closes the connection from outside its loop: to make room for a new one (the
    /// listener is full), or for a timeout the listener's sweep found. The pending receive ends.</summary>
    public void Evict(string why)
    {
        ClosedBecause ??= why;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // already gone
        }
    }

    /// <summary>
    /// Adaptive busy-poll (--busy-poll-us): when the client's last request came within the budget
    /// of its previous reply (a closed loop, a pipelining client), poll the socket for that long
    /// instead of parking in epoll — the next request is then read without a wake-up through the
    /// kernel and the thread pool. A client that came back later than that is waited for as usual,
    /// so an idle connection costs no spinning. True when bytes arrived while polling.
    /// </summary>
    private bool BusyPoll(long idleSince)
    {
        var budget = _limits.BusyPollMicros * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
        if (budget <= 0 || _lastGap > budget)
        {
            return false;
        }

        var until = idleSince + budget;
        try
        {
            do
            {
                if (_socket.Available > 0)
                {
                    _stats.BusyPollHit();
                    return true;
                }

                Thread.SpinWait(30);
            }
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false; // the receive that follows reports it
        }

        _stats.BusyPollMiss();
        return false;
    }

    /// <summary>
    /// The receive loop. No timer is touched per request (timer changes take a process-wide lock;
    /// on a loaded server they cost more than the lookups): the listener's once-a-second sweep
    /// reads <see cref="IdleSince"/> and <see cref="FrameStarted"/> and evicts what is over its
    /// limit. The receive buffer goes back to the pool when the replies are sent and no further
    /// bytes are waiting; the connection then waits with a zero-byte read.
    /// </summary>
    public async Task RunAsync(ISession session, CancellationToken stopping)
    {
        var input = new ReceiveBuffer(0, pooled: true);
        var reoffer = false; // the session paused: offer what is buffered again before reading
        try
        {
            while (!stopping.IsCancellationRequested && ClosedBecause is null)
            {
                var hadData = input.Length > 0;
                if (!reoffer)
                {
                    int received;
                    try
                    {
                        if (input.Capacity == 0)
                        {
                            var idle = System.Diagnostics.Stopwatch.GetTimestamp();
                            Volatile.Write(ref _idleSince, idle);
                            if (!BusyPoll(idle))
                            {
                                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, stopping).ConfigureAwait(false);
                            }

                            _lastGap = System.Diagnostics.Stopwatch.GetTimestamp() - idle;
                            Volatile.Write(ref _idleSince, 0);
                            input.Reserve(InitialBuffer);
                        }

                        received = await _socket.ReceiveAsync(input.Free, SocketFlags.None, stopping).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return; // draining: every request received so far has been answered
                    }

                    if (received == 0)
                    {
                        return;
                    }

                    _stats.Received(received);
                    input.Commit(received);
                }

                reoffer = false;
                var consumed = session.Receive(input.Data);
                input.Consume(consumed);
                if (session.Paused)
                {
                    // The replies it owes fill its window: stop reading (the client's sends then
                    // block in its kernel) until one of them has left.
                    _stats.PausedReading();
                    Volatile.Write(ref _frameStarted, 0);
                    if (session.Output.Length > 0 && !await SendAsync(session.Output).ConfigureAwait(false))
                    {
                        return;
                    }

                    session.ClearOutput();
                    try
                    {
                        await session.WhenResumable().WaitAsync(stopping).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    reoffer = true;
                    continue;
                }

                if (input.Length == 0)
                {
                    // Every request received is handled: its room goes back before the replies
                    // are sent (a client may send its next large request as soon as it reads them).
                    Volatile.Write(ref _frameStarted, 0);
                    GiveBack();
                }
                else if (!hadData || consumed > 0)
                {
                    Volatile.Write(ref _frameStarted, System.Diagnostics.Stopwatch.GetTimestamp());
                }

                if (input.Length > 0 && !session.Closing && !MakeRoom(input, session.BytesNeeded))
                {
                    _stats.RefuseMemory();
                    session.Refuse($"the server's memory for large requests ({_limits.MaxBufferedBytes >> 20} MiB, --max-buffered-mb) is in use; try another replica or later");
                }

                // An idle connection pays one FIONREAD and replies at once, so latency does not suffer.
                var waiting = session.Closing ? 0 : _socket.Available;
                if (waiting > 0 && session.Output.Length < CoalesceLimit && input.FreeSpan.Length > 0)
                {
                    continue;
                }

                if (session.Output.Length > 0 && !await SendAsync(session.Output).ConfigureAwait(false))
                {
                    return;
                }

                session.ClearOutput();
                if (session.Closing)
                {
                    return;
                }

                if (input.Length == 0 && waiting == 0)
                {
                    // Nothing more came: wait without buffers.
                    input.Release();
                    session.Idle();
                }
            }
        }
        finally
        {
            input.Clear();
            input.Release();
            GiveBack();
            // Whatever reply was not sent (the client left, or stopped reading) goes back now:
            // a large one is a native block no one else would free.
            session.ClearOutput();
            session.Idle();
        }
    }

    /// <summary>Called by the listener's sweep: closes the connection if it has been idle or has
    /// held half a request for longer than allowed.</summary>
    public void CloseIfExpired(long now)
    {
        var idle = IdleSince;
        var frame = FrameStarted;
        if (idle != 0 && System.Diagnostics.Stopwatch.GetElapsedTime(idle, now) > _limits.IdleTimeout)
        {
            _stats.CloseIdle();
            Evict($"idle for {_limits.IdleTimeout.TotalSeconds:F0} s");
        }
        else if (frame != 0 && System.Diagnostics.Stopwatch.GetElapsedTime(frame, now) > _limits.FrameTimeout)
        {
            _stats.FrameTimedOut();
            Evict($"a request did not arrive whole within {_limits.FrameTimeout.TotalSeconds:F0} s");
        }
    }

    /// <summary>Room for the request in progress: beyond the first buffer, taken from the budget.</summary>
    private bool MakeRoom(ReceiveBuffer input, int needed)
    {
        var extra = (long)Math.Max(0, needed - InitialBuffer);
        if (extra > _budgeted)
        {
            if (!_budget.TryTake(extra - _budgeted))
            {
                return false;
            }

            _budgeted = extra;
        }

        input.Compact(needed);
        return true;
    }

    private void GiveBack()
    {
        if (_budgeted > 0)
        {
            _budget.Give(_budgeted);
            _budgeted = 0;
        }
    }

    public string Peer => _peer ??= (_socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address.ToString() ?? "?";

    private string? _peer;

    /// <summary>The bound on the replies this connection owes (<see cref="ServerLimits.MaxPendingReplies"/>).</summary>
    public ReplyWindow Window { get; }

    /// <summary>Sends under a lock: the read loop and replies computed later share the socket. A
    /// send that fails or stalls closes the connection, so the read loop stops taking requests
    /// whose replies could never be delivered and everything they hold is released.</summary>
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (ClosedBecause is not null)
        {
            return false;
        }

        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (ClosedBecause is not null)
            {
                return false;
            }

            if (await SendLockedAsync(bytes).ConfigureAwait(false))
            {
                return true;
            }

            _stats.SendTimedOut();
            Evict($"a reply made no progress for {_limits.SendTimeout.TotalMilliseconds:F0} ms (--send-timeout-ms): the client does not read");
            return false;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Evict(e is SocketException s ? $"send failed: {s.SocketErrorCode}" : "send failed: closed");
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async ValueTask<bool> SendLockedAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty)
            {
                // In slices, so a large reply to a slow reader is watched slice by slice.
                var slice = bytes.Length > SendSlice ? bytes[..SendSlice] : bytes;
                var pending = _socket.SendAsync(slice, SocketFlags.None, _sendCancel.Token);
                int sent;
                if (pending.IsCompleted)
                {
                    sent = pending.GetAwaiter().GetResult(); // the common case: no timer touched
                }
                else
                {
                    // The kernel's buffer is full: the client reads slower than we write.
                    StartWatch();
                    try
                    {
                        sent = await pending.ConfigureAwait(false);
                    }
                    finally
                    {
                        StopWatch();
                    }
                }

                _stats.Sent(sent);
                bytes = bytes[sent..];
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false; // the client stopped reading: drop this connection only
        }
    }

    public void Dispose()
    {
        lock (_watchLock)
        {
            _watching = false;
            _watch?.Dispose();
        }

        _sendCancel.Dispose();
        _sendLock.Dispose();
    }
}
