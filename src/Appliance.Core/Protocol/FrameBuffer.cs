using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Buffers;

namespace Appliance.Core.Protocol;

/// <summary>
/// An output buffer of whole binary-protocol frames. A frame is opened (its header reserved), its
/// payload written through <see cref="OutputBuffer.GetSpan"/>/<see cref="OutputBuffer.Advance"/>,
/// and closed, which fills in the header with the final payload length. Both the server (replies)
/// and the client (requests) write through it, so frame layout is produced in one place.
/// </summary>
internal sealed class FrameBuffer(int initialCapacity = 64 << 10) : OutputBuffer(initialCapacity)
{
    private int _frameStart = -1;
    private FrameHeader _open;

    public override void Clear()
    {
        base.Clear();
        _frameStart = -1;
    }

    public void BeginFrame(Opcode opcode, FrameFlags flags, uint requestId)
    {
        if (_frameStart >= 0)
        {
            throw new InvalidOperationException("a frame is already open");
        }

        GetSpan(FrameHeader.Size);
        _frameStart = Length;
        _open = new FrameHeader(opcode, flags, requestId, 0);
        Advance(FrameHeader.Size);
    }

    /// <summary>Closes the open frame; returns its payload length.</summary>
    public int EndFrame()
    {
        var payload = Length - _frameStart - FrameHeader.Size;
        (_open with { PayloadLength = payload }).Write(WrittenAt(_frameStart, FrameHeader.Size));
        _frameStart = -1;
        return payload;
    }

    /// <summary>Drops the open frame (e.g. to replace it with an error reply).</summary>
    public void AbandonFrame()
    {
        if (_frameStart >= 0)
        {
            Truncate(_frameStart);
            _frameStart = -1;
        }
    }

    /// <summary>A u16 byte length, then the UTF-8 bytes (truncated to 65535 bytes).</summary>
    public void WriteShortString(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var span = GetSpan(2 + max);
        var n = Encoding.UTF8.GetBytes(text, span[2..]);
        n = Math.Min(n, ushort.MaxValue);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)n);
        Advance(2 + n);
    }

    /// <summary>A whole error reply: <c>u16 code | u16 length | UTF-8 message</c>.</summary>
    public void WriteError(Opcode opcode, uint requestId, ErrorCode code, string message)
    {
        AbandonFrame();
        BeginFrame(opcode, FrameFlags.Response | FrameFlags.Error, requestId);
        WriteUInt16((ushort)code);
        WriteShortString(message);
        EndFrame();
    }
}
