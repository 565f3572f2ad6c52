namespace Appliance.Core.Brpc;

/// <summary>
/// The protobuf wire format, as far as baidu_std's messages need it: varints, length-delimited
/// fields, and skipping what a reader does not know. A field starts with its tag, the varint
/// <c>(field number &lt;&lt; 3) | wire type</c>:
/// <code>
/// wire type 0  varint            int32/int64/uint64/bool; 7 bits a byte, low first, high bit = more
///           1  64-bit            8 bytes, little-endian
///           2  length-delimited  varint length, then that many bytes (string, bytes, message, packed)
///           5  32-bit            4 bytes, little-endian
/// </code>
/// Hand-written rather than generated: four small messages, read without allocating, and no
/// reflection for the trimmer to keep.
/// </summary>
internal static class ProtoWire
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32 = 5;

    /// <summary>The most bytes a varint takes (a 64-bit value, or a negative int32/int64).</summary>
    public const int MaxVarintSize = 10;

    public static int VarintSize(ulong value)
    {
        // 1 + (bits above the lowest 7) / 7, without a loop: 64 - lzcnt(v|1) significant bits.
        var bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1);
        return (bits + 6) / 7;
    }

    public static int TagSize(int field) => VarintSize((ulong)field << 3);

    /// <summary>Size of a length-delimited field whose content is <paramref name="length"/> bytes.</summary>
    public static int LengthDelimitedSize(int field, int length) => TagSize(field) + VarintSize((ulong)length) + length;

    public static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a varint at <paramref name="at"/> and moves past it; the bounds and the
    /// 10-byte limit are checked (a <see cref="ProtoFormatException"/> naming the offset).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static ulong ReadVarint(ReadOnlySpan<byte> data, ref int at)
    {
        if ((uint)at < (uint)data.Length && data[at] < 0x80)
        {
            return data[at++];
        }

        return ReadLongVarint(data, ref at);
    }

    private static ulong ReadLongVarint(ReadOnlySpan<byte> data, ref int at)
    {
        var start = at;
        ulong value = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            if ((uint)at >= (uint)data.Length)
            {
                throw new ProtoFormatException($"offset {start}: varint runs past the end of the message ({data.Length} bytes)");
            }

            var b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new ProtoFormatException($"offset {start}: varint longer than 10 bytes");
    }

    public static int WriteTag(Span<byte> destination, int field, int wireType) =>
        WriteVarint(destination, ((ulong)field << 3) | (uint)wireType);
}
