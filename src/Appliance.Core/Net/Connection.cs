using System.Net.Sockets;
using Appliance.Core.Buffers;

namespace Appliance.Core.Net;

/// <summary>
/// One accepted connection, bytes only: receive into one reusable <see cref="ReceiveBuffer"/>, offer
/// the bytes to the session, send what it answered, close when it says so or the peer goes. When
/// more bytes are already waiting, they are read before replying, so a pipelining client gets all
/// its answers with one send (each send costs a system call and a wake-up of the peer).
/// </summary>
internal sealed class Connection : IReplySink, IDisposable
{
    private const int InitialBuffer = 64 << 10;
    private const int CoalesceLimit = 32 << 10;

    private readonly Socket _socket;
    private readonly ServerLimits _limits;
    private readonly TransportStats _stats;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private CancellationTokenSource _sendTimeout = new();

    public Connection(Socket socket, ServerLimits limits, TransportStats stats)
    {
        _socket = socket;
        _limits = limits;
        _stats = stats;
    }

    public async Task RunAsync(ISession session, CancellationToken stopping)
    {
        var input = new ReceiveBuffer(InitialBuffer);
        while (!stopping.IsCancellationRequested)
        {
            int received;
            try
            {
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
            input.Consume(session.Receive(input.Data));
            input.Compact(session.BytesNeeded);

            // An idle connection pays one FIONREAD and replies at once, so latency does not suffer.
            if (!session.Closing && session.Output.Length < CoalesceLimit && input.FreeSpan.Length > 0 && _socket.Available > 0)
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
