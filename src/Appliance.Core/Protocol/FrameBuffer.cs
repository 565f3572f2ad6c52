using System.Buffers.Binary;
using System.Text;

namespace Appliance.Core.Protocol;

/// <summary>
/// A growable output buffer of whole frames. A frame is opened (its header reserved), its payload
/// written through <see cref="GetSpan"/>/<see cref="Advance"/>, and closed, which fills in the
/// header with the final payload length. Both the server (replies) and the client (requests) write
/// through it, so frame layout is produced in one place.
/// </summary>
public sealed class FrameBuffer
{
    /// <summary>Beyond this size a buffer that may be trimmed is native memory (freed when
    /// trimmed), not a garbage-collected array that stays resident long after the reply.</summary>
    private const int MaxManaged = 1 << 20;

    private Memory<byte> _buffer;
    /// <summary>The array behind <see cref="_buffer"/> when it is one (all but replies over 1 MiB):
    /// a span of an array is a bounds check, of a Memory a type test and more — per write it was
    /// 12 % of a RESP server's CPU (perf).</summary>
    private byte[]? _array;
    private Buffers.NativeBlock? _native;
    private byte[]? _pooled;
    private int _length;
    private int _frameStart = -1;
    private FrameHeader _open;

    public FrameBuffer(int initialCapacity = 64 << 10)
    {
        _buffer = _array = new byte[initialCapacity];
        NativeWhenLarge = initialCapacity == 0;
    }

    public int Length => _length;

    public ReadOnlyMemory<byte> Written => _buffer[.._length];

    public ReadOnlySpan<byte> WrittenSpan => _buffer.Span[.._length];

    /// <summary>The server's per-connection output (created empty): arrays from the shared pool,
    /// native memory when large, all given back by <see cref="Trim"/>; a client's buffer keeps
    /// plain managed arrays.</summary>
    private bool NativeWhenLarge { get; }

    public void Clear()
    {
        _length = 0;
        _frameStart = -1;
    }

    /// <summary>When empty, drops a buffer larger than <paramref name="keep"/> bytes (the next
    /// write starts small again; native memory is freed at once).</summary>
    public void Trim(int keep)
    {
        if (_length == 0 && _buffer.Length > keep)
        {
            _buffer = Memory<byte>.Empty;
            _array = null;
            ReturnStorage();
            (_native, _pooled) = (null, null);
        }
    }

    public void BeginFrame(Opcode opcode, FrameFlags flags, uint requestId)
    {
        if (_frameStart >= 0)
        {
            throw new InvalidOperationException("a frame is already open");
        }

        GetSpan(FrameHeader.Size);
        _frameStart = _length;
        _open = new FrameHeader(opcode, flags, requestId, 0);
        _length += FrameHeader.Size;
    }

    /// <summary>Closes the open frame; returns its payload length.</summary>
    public int EndFrame()
    {
        var payload = _length - _frameStart - FrameHeader.Size;
        (_open with { PayloadLength = payload }).Write(_buffer.Span[_frameStart..]);
        _frameStart = -1;
        return payload;
    }

    /// <summary>Drops the open frame (e.g. to replace it with an error reply).</summary>
    public void AbandonFrame()
    {
        if (_frameStart >= 0)
        {
            _length = _frameStart;
            _frameStart = -1;
        }
    }

    public Span<byte> GetSpan(int size)
    {
        if (_array is { } current && current.Length - _length >= size)
        {
            return current.AsSpan(_length);
        }

        if (_buffer.Length - _length < size)
        {
            var capacity = Math.Max(Math.Max(_buffer.Length * 2, 1024), _length + size);
            Memory<byte> grown;
            Buffers.NativeBlock? native = null;
            byte[]? pooled = null;
            byte[]? array = null;
            if (!NativeWhenLarge)
            {
                grown = array = new byte[capacity];
            }
            else if (capacity > MaxManaged)
            {
                native = Buffers.LargeBlockCache.Rent(capacity);
                grown = native.Memory;
            }
            else
            {
                pooled = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 16 << 10));
                grown = array = pooled;
            }

            _buffer.Span[.._length].CopyTo(grown.Span);
            ReturnStorage();
            (_buffer, _array, _native, _pooled) = (grown, array, native, pooled);
        }

        return _buffer.Span[_length..];
    }

    public void Advance(int count) => _length += count;

    private void ReturnStorage()
    {
        if (_native is not null)
        {
            Buffers.LargeBlockCache.Return(_native);
        }

        if (_pooled is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_pooled);
        }
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _length += bytes.Length;
    }

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(GetSpan(2), value);
        _length += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(4), value);
        _length += 4;
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(GetSpan(8), value);
        _length += 8;
    }

    /// <summary>A u16 byte length, then the UTF-8 bytes (truncated to 65535 bytes).</summary>
    public void WriteShortString(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var span = GetSpan(2 + max);
        var n = Encoding.UTF8.GetBytes(text, span[2..]);
        n = Math.Min(n, ushort.MaxValue);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)n);
        _length += 2 + n;
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
