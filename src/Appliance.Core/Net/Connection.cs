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
internal sealed class Connection : IReplySink, IDisposable
{
    private const int InitialBuffer = 64 << 10;
    private const int CoalesceLimit = 32 << 10;

    private readonly Socket _socket;
    private readonly ServerLimits _limits;
    private readonly TransportStats _stats;
    private readonly BufferBudget _budget;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private CancellationTokenSource _sendTimeout = new();
    private long _budgeted;

    public Connection(Socket socket, ServerLimits limits, TransportStats stats, BufferBudget budget)
    {
        _socket = socket;
        _limits = limits;
        _stats = stats;
        _budget = budget;
    }

    /// <summary>Why the connection ended, when the server ended it.</summary>
    public string? ClosedBecause { get; private set; }

    public async Task RunAsync(ISession session, CancellationToken stopping)
    {
        var input = new ReceiveBuffer(0, pooled: true);
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        long frameStarted = 0;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                int received;
                deadline.CancelAfter(input.Length == 0 ? _limits.IdleTimeout : RemainingOf(frameStarted));
                try
                {
                    if (input.Capacity == 0)
                    {
                        // Between requests (the buffer went back after the last reply): wait for
                        // bytes without holding one.
                        await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, deadline.Token).ConfigureAwait(false);
                        input.Reserve(InitialBuffer);
                    }

                    received = await _socket.ReceiveAsync(input.Free, SocketFlags.None, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    if (input.Length == 0)
                    {
                        _stats.CloseIdle();
                        ClosedBecause = $"idle for {_limits.IdleTimeout.TotalSeconds:F0} s";
                    }
                    else
                    {
                        _stats.FrameTimedOut();
                        ClosedBecause = $"a request did not arrive whole within {_limits.FrameTimeout.TotalSeconds:F0} s";
                    }

                    return;
                }
                catch (OperationCanceledException)
                {
                    return; // draining: every request received so far has been answered
                }

                if (!deadline.TryReset())
                {
                    deadline.Dispose();
                    deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                }

                if (received == 0)
                {
                    return;
                }

                _stats.Received(received);
                var hadData = input.Length > 0;
                input.Commit(received);
                var consumed = session.Receive(input.Data);
                input.Consume(consumed);
                if (input.Length == 0)
                {
                    // Every request received is handled: its room goes back before the replies
                    // are sent (a client may send its next large request as soon as it reads them).
                    frameStarted = 0;
                    GiveBack();
                    input.Release();
                }
                else if (!hadData || consumed > 0)
                {
                    frameStarted = System.Diagnostics.Stopwatch.GetTimestamp();
                }

                if (input.Length > 0 && !session.Closing && !MakeRoom(input, session.BytesNeeded))
                {
                    _stats.RefuseMemory();
                    session.Refuse($"the server's memory for large requests ({_limits.MaxBufferedBytes >> 20} MiB, --max-buffered-mb) is in use; try another replica or later");
                }

                // An idle connection pays one FIONREAD and replies at once, so latency does not suffer.
                if (!session.Closing && session.Output.Length < CoalesceLimit && (input.Capacity == 0 || input.FreeSpan.Length > 0) && _socket.Available > 0)
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
            }
        }
        finally
        {
            deadline.Dispose();
            input.Clear();
            input.Release();
            GiveBack();
        }
    }

    private TimeSpan RemainingOf(long frameStarted)
    {
        var left = _limits.FrameTimeout - System.Diagnostics.Stopwatch.GetElapsedTime(frameStarted);
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
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

    /// <summary>Sends under a lock: the read loop and replies computed later share the socket.</summary>
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return await SendLockedAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async ValueTask<bool> SendLockedAsync(ReadOnlyMemory<byte> bytes)
    {
        // One timer per connection, re-armed per send (a new CancellationTokenSource per reply
        // would allocate on the hot path).
        _sendTimeout.CancelAfter(_limits.SendTimeout);
        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = await _socket.SendAsync(bytes, SocketFlags.None, _sendTimeout.Token).ConfigureAwait(false);
                _stats.Sent(sent);
                bytes = bytes[sent..];
            }

            if (!_sendTimeout.TryReset())
            {
                _sendTimeout.Dispose();
                _sendTimeout = new CancellationTokenSource();
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
        _sendTimeout.Dispose();
        _sendLock.Dispose();
    }
}
