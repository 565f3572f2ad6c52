using System.Buffers.Binary;
using System.Net.Sockets;
using Appliance.Core.Protocol;

namespace Appliance.Core.Net;

/// <summary>
/// One client connection: bytes in, frames to the handler, replies out. Every complete frame in
/// a receive is handled before one send carries all their replies, so a pipelining client gets
/// many answers per system call. A frame that cannot be parsed gets a BadFrame error reply and the
/// connection is closed (its byte stream can no longer be trusted); nothing else is affected.
/// </summary>
internal sealed class FrameConnection(Socket socket, IFrameHandler handler, ServerLimits limits, TransportStats stats) : IDisposable
{
    private const int InitialBuffer = 64 << 10;
    private const int CoalesceLimit = 32 << 10;

    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly List<Task> _pending = [];
    private CancellationTokenSource _sendTimeout = new();

    public async Task RunAsync(CancellationToken stopping)
    {
        var input = new byte[InitialBuffer];
        var output = new FrameBuffer();
        var start = 0;
        var end = 0;
        while (!stopping.IsCancellationRequested)
        {
            int received;
            try
            {
                received = await socket.ReceiveAsync(input.AsMemory(end), SocketFlags.None, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // draining: every frame received so far has been answered
            }

            if (received == 0)
            {
                return;
            }

            end += received;
            var keepOpen = HandleFrames(input, ref start, end, output, out var needed, out var frames);
            stats.Received(received, frames);
            if (start == end)
            {
                start = end = 0;
            }
            else if (start > 0)
            {
                Buffer.BlockCopy(input, start, input, 0, end - start);
                end -= start;
                start = 0;
            }

            if (needed > input.Length)
            {
                // The frame in progress is larger than the buffer; its header already passed the
                // size check, so this allocation is bounded by the maximum frame size.
                Array.Resize(ref input, Math.Max(needed, input.Length * 2));
            }

            // Under load more requests are usually already waiting: read them too and answer
            // all with one send (each send costs a system call and a wake-up of the peer). An
            // idle connection pays one FIONREAD and sends at once, so latency does not suffer.
            if (keepOpen && output.Length < CoalesceLimit && end < input.Length && socket.Available > 0)
            {
                continue;
            }

            if (output.Length > 0 && !await SendAsync(output.Written).ConfigureAwait(false))
            {
                return;
            }

            output.Clear();
            if (!keepOpen)
            {
                return;
            }
        }
    }

    /// <summary>Handles every whole frame in input[start..end); false if the stream is invalid.
    /// <paramref name="needed"/> is the length of the incomplete frame at the end, once its header is in.</summary>
    private bool HandleFrames(byte[] input, ref int start, int end, FrameBuffer output, out int needed, out int frames)
    {
        needed = 0;
        frames = 0;
        while (true)
        {
            var available = input.AsSpan(start, end - start);
            switch (FrameScanner.TryScan(available, limits.MaxPayloadBytes, out var header, out var error))
            {
                case ScanResult.Done:
                    if (header.IsResponse)
                    {
                        output.WriteError(header.Opcode, header.RequestId, ErrorCode.BadFrame, "a client must not send response frames");
                        return false;
                    }

                    if (handler is IAsyncFrameHandler async && async.IsAsync(header.Opcode))
                    {
                        // The input buffer is reused: the handler gets its own copy of the payload.
                        var payload = available.Slice(FrameHeader.Size, header.PayloadLength).ToArray();
                        lock (_pending)
                        {
                            _pending.RemoveAll(t => t.IsCompleted);
                            _pending.Add(ReplyLaterAsync(async, header, payload));
                        }
                    }
                    else
                    {
                        handler.Handle(header, available.Slice(FrameHeader.Size, header.PayloadLength), output);
                    }

                    frames++;
                    start += header.FrameLength;
                    break;
                case ScanResult.NeedMoreData:
                    needed = header.FrameLength;
                    return true;
                default:
                    var id = available.Length >= 12 ? BinaryPrimitives.ReadUInt32LittleEndian(available[8..]) : 0;
                    var opcode = available.Length >= 4 ? (Opcode)available[3] : 0;
                    output.WriteError(opcode, id, ErrorCode.BadFrame, error ?? "invalid frame");
                    return false;
            }
        }
    }

    /// <summary>Waits (bounded) for replies still being computed, so a drain answers them too.</summary>
    public async Task FinishPendingAsync(TimeSpan timeout)
    {
        Task[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
        }

        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(timeout)).ConfigureAwait(false);
    }

    private async Task ReplyLaterAsync(IAsyncFrameHandler async, FrameHeader header, byte[] payload)
    {
        var output = new FrameBuffer(1024);
        try
        {
            await async.HandleAsync(header, payload, output).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            output.WriteError(header.Opcode, header.RequestId, ErrorCode.Internal, e.Message);
        }

        await SendAsync(output.Written).ConfigureAwait(false);
    }

    /// <summary>Sends under a lock: the read loop and replies computed later share the socket.</summary>
    private async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
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
        _sendTimeout.CancelAfter(limits.SendTimeout);
        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = await socket.SendAsync(bytes, SocketFlags.None, _sendTimeout.Token).ConfigureAwait(false);
                stats.Sent(sent);
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
