using System.Buffers.Binary;

namespace Appliance.Core.Buffers;

/// <summary>
/// The growable output buffer every protocol writes its replies (and a client its requests) into
/// before they are sent: the binary protocol (<c>Protocol.FrameBuffer</c> adds its frame header on
/// top), baidu_std and RESP. Written through <see cref="GetSpan"/>/<see cref="Advance"/> or the
/// little-endian helpers; a server's buffer (created empty) comes from the shared array pool, or
/// native memory when large, and gives it all back on <see cref="Trim"/>.
/// </summary>
internal class OutputBuffer
{
    /// <summary>Beyond this size a buffer that may be trimmed is native memory (freed when
    /// trimmed), not a garbage-collected array that stays resident long after the reply.</summary>
    private const int MaxManaged = 1 << 20;

    private Memory<byte> _buffer;
    /// <summary>The array behind <see cref="_buffer"/> when it is one (all but replies over 1 MiB):
    /// a span of an array is a bounds check, of a Memory a type test and more — per write it was
    /// 12 % of a RESP server's CPU (perf).</summary>
    private byte[]? _array;
    private NativeBlock? _native;
    private byte[]? _pooled;
    private int _length;

    public OutputBuffer(int initialCapacity = 64 << 10)
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

    public virtual void Clear() => _length = 0;

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
            NativeBlock? native = null;
            byte[]? pooled = null;
            byte[]? array = null;
            if (!NativeWhenLarge)
            {
                grown = array = new byte[capacity];
            }
            else if (capacity > MaxManaged)
            {
                native = LargeBlockCache.Rent(capacity);
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

    /// <summary>Bytes already written, to fill in a header reserved before its payload.</summary>
    protected Span<byte> WrittenAt(int offset, int count) => _buffer.Span.Slice(offset, count);

    /// <summary>Drops what was written after <paramref name="length"/> bytes.</summary>
    protected void Truncate(int length) => _length = length;

    private void ReturnStorage()
    {
        if (_native is not null)
        {
            LargeBlockCache.Return(_native);
        }

        if (_pooled is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_pooled);
        }
    }
}
