using System.Buffers.Binary;
using Appliance.Core.Net;

namespace Appliance.Core.Protocol;

/// <summary>
/// The binary protocol on one connection, without the socket: frames are found in the bytes the
/// transport offers (<see cref="FrameScanner"/>), each request is dispatched to the handler, and the
/// replies collect in <see cref="Output"/> for one send.
/// <list type="bullet">
/// <item>Replies of synchronous opcodes are written in request order, so a pipelining client gets
/// many answers per system call.</item>
/// <item>Opcodes the handler finishes later (<see cref="IAsyncFrameHandler"/>) get a copy of their
/// payload; their reply goes to the <see cref="IReplySink"/> when ready and may overtake later
/// replies (the request id matches them, docs/protocol.md).</item>
/// <item>A frame that cannot be parsed, or a response frame sent by a client, gets a BadFrame reply
/// and the session closes: the byte stream can no longer be trusted.</item>
/// <item>A handler that throws gets its frame answered with Internal; the session goes on.</item>
/// <item>Late replies are bounded by the connection's <see cref="ReplyWindow"/>: when it is full the
/// session stops consuming (<see cref="Paused"/>) until one has been sent.</item>
/// </list>
/// </summary>
internal sealed class FrameSession : ISession
{
    private readonly IFrameHandler _handler;
    private readonly IAsyncFrameHandler? _async;
    private readonly int _maxPayload;
    private readonly IReplySink _replies;
    private readonly FrameBuffer _output = new(0);
    private FrameHeader _partial;
    private readonly List<Task> _pending = [];

    public FrameSession(IFrameHandler handler, int maxPayload, IReplySink replies)
    {
        _handler = handler;
        _async = handler as IAsyncFrameHandler;
        _maxPayload = maxPayload;
        _replies = replies;
    }

    public int BytesNeeded { get; private set; }

    public bool Closing { get; private set; }

    public bool Paused { get; private set; }

    public Task WhenResumable() => _replies.Window.WaitForRoomAsync();

    public ReadOnlyMemory<byte> Output => _output.Written;

    /// <summary>Frames handled so far.</summary>
    public long Frames { get; private set; }

    /// <summary>Clears the replies sent; a buffer grown past 1 MiB by a large reply is given back
    /// at once (native memory), smaller ones when the connection goes idle.</summary>
    public void ClearOutput()
    {
        _output.Clear();
        _output.Trim(1 << 20);
    }

    public void Idle() => _output.Trim(0);

    public void Refuse(string reason)
    {
        _output.WriteError(_partial.Opcode, _partial.RequestId, ErrorCode.Overloaded, reason);
        Closing = true;
    }

    public int Receive(ReadOnlySpan<byte> input)
    {
        BytesNeeded = 0;
        Paused = false;
        var consumed = 0;
        while (!Closing)
        {
            var available = input[consumed..];
            switch (FrameScanner.TryScan(available, _maxPayload, out var header, out var error))
            {
                case ScanResult.Done:
                    if (_async is not null && !header.IsResponse && _async.IsAsync(header.Opcode) && !_replies.Window.HasRoom)
                    {
                        Paused = true; // offered again once a pending reply has left
                        return consumed;
                    }

                    Dispatch(header, available.Slice(FrameHeader.Size, header.PayloadLength));
                    consumed += header.FrameLength;
                    Frames++;
                    break;
                case ScanResult.NeedMoreData:
                    BytesNeeded = header.FrameLength;
                    _partial = header;
                    return consumed;
                default:
                    var id = available.Length >= 12 ? BinaryPrimitives.ReadUInt32LittleEndian(available[8..]) : 0;
                    var opcode = available.Length >= 4 ? (Opcode)available[3] : 0;
                    _output.WriteError(opcode, id, ErrorCode.BadFrame, error ?? "invalid frame");
                    Closing = true;
                    break;
            }
        }

        return consumed;
    }

    public async Task DrainAsync(TimeSpan timeout)
    {
        Task[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
        }

        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(timeout)).ConfigureAwait(false);
    }

    private void Dispatch(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.IsResponse)
        {
            _output.WriteError(header.Opcode, header.RequestId, ErrorCode.BadFrame, "a client must not send response frames");
            Closing = true;
            return;
        }

        if (_async is not null && _async.IsAsync(header.Opcode))
        {
            if (_async.TryHandleNow(header, payload, _output))
            {
                return; // answered at once after all (a disk tier's lookup its cache held)
            }

            // The transport reuses its receive buffer: the handler gets its own copy.
            _replies.Window.Enter();
            var task = ReplyLaterAsync(_async, header, payload.ToArray());
            lock (_pending)
            {
                _pending.RemoveAll(t => t.IsCompleted);
                _pending.Add(task);
            }

            return;
        }

        try
        {
            _handler.Handle(header, payload, _output);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _output.AbandonFrame();
            _output.WriteError(header.Opcode, header.RequestId, ErrorCode.Internal, e.Message);
        }
    }

    private async Task ReplyLaterAsync(IAsyncFrameHandler handler, FrameHeader header, byte[] payload)
    {
        var output = new FrameBuffer(1024);
        try
        {
            await handler.HandleAsync(header, payload, output).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            output.Clear();
            output.WriteError(header.Opcode, header.RequestId, ErrorCode.Internal, e.Message);
        }

        var bytes = output.Length;
        _replies.Window.Computed(bytes);
        try
        {
            await _replies.SendAsync(output.Written).ConfigureAwait(false);
        }
        finally
        {
            _replies.Window.Sent(bytes);
        }
    }
}
