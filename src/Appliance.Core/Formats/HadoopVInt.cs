namespace Appliance.Core.Formats;

/// <summary>
/// Hadoop <c>WritableUtils</c> variable-length integers, used for the class-name lengths in a
/// SequenceFile header.
/// <code>
///   first byte b (signed) ≥ −112      → the value is b
///   b &lt; −120                         → (−119 − b) big-endian bytes follow, value is complemented
///   otherwise                         → (−111 − b) big-endian bytes follow
/// </code>
/// </summary>
internal static class HadoopVInt
{
    /// <summary>Total encoded size (first byte included) implied by the first byte.</summary>
    public static int DecodedSize(sbyte first) =>
        first >= -112 ? 1 : first < -120 ? -119 - first : -111 - first;

    public static long Decode(ReadOnlySpan<byte> encoded)
    {
        var first = (sbyte)encoded[0];
        var size = DecodedSize(first);
        if (size == 1)
        {
            return first;
        }

        long value = 0;
        for (var i = 1; i < size; i++)
        {
            value = (value << 8) | encoded[i];
        }

        return first < -120 ? ~value : value;
    }

    /// <summary>Writes <paramref name="value"/> and returns the number of bytes written.</summary>
    public static int Encode(long value, Span<byte> destination)
    {
        if (value is >= -112 and <= 127)
        {
            destination[0] = (byte)(sbyte)value;
            return 1;
        }

        var len = -112;
        if (value < 0)
        {
            value = ~value;
            len = -120;
        }

        var tmp = value;
        while (tmp != 0)
        {
            tmp >>= 8;
            len--;
        }

        destination[0] = (byte)(sbyte)len;
        var bytes = len < -120 ? -(len + 120) : -(len + 112);
        for (var i = bytes; i > 0; i--)
        {
            var shift = (i - 1) * 8;
            destination[1 + bytes - i] = (byte)((value >> shift) & 0xFF);
        }

        return 1 + bytes;
    }
}
