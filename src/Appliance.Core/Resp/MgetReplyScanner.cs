using System.Buffers.Text;
using System.Text;

using Appliance.Core.Protocol;

namespace Appliance.Core.Resp;

/// <summary>
/// The client side of MGET, for load generators that drive cube's RESP port and Redis with the
/// same bytes: frames one reply without copying it and counts its found and missing values.
/// <code>
/// *N\r\n             then N elements, each one of
///   $LEN\r\n BYTES \r\n   a value (LEN ≥ 0)
///   $-1\r\n              missing (RESP2)
///   _\r\n                missing (RESP3)
/// -CODE message\r\n  instead of the array: an error reply
/// </code>
/// Anything else (a negative count or one over the keys asked for, a header without CRLF within <see cref="MaxHeader"/> bytes,
/// a value not followed by CRLF, an element of another type) is <see cref="ScanResult.InvalidData"/>
/// with the offset at fault, never a guess.
/// </summary>
internal static class MgetReplyScanner
{
    /// <summary>Longest header line accepted ("*", "$" or "-" and its text, CRLF included) before
    /// the reply is called invalid; error lines may be longer and are cut at this many bytes.</summary>
    public const int MaxHeader = 512;

    /// <summary>Scans one reply at the start of <paramref name="data"/>. On <see cref="ScanResult.Done"/>
    /// <paramref name="length"/> is its size in bytes and <paramref name="error"/> is null for an
    /// array, the error text for an error reply (found = missing = 0). An array of more than
    /// <paramref name="maxElements"/> (the keys the request asked for) is invalid, so a peer's count
    /// cannot make the reader wait for, and buffer, a reply without end.</summary>
    public static ScanResult TryScan(ReadOnlySpan<byte> data, int maxValue, int maxElements, out int length, out int found, out int missing, out string? error)
    {
        length = found = missing = 0;
        error = null;
        if (data.IsEmpty)
        {
            return ScanResult.NeedMoreData;
        }

        if (data[0] == (byte)'-')
        {
            var end = LineEnd(data, 0, out var tooLong);
            if (end < 0)
            {
                return tooLong ? Invalid(0, "an error reply without CRLF", out error) : ScanResult.NeedMoreData;
            }

            error = Encoding.UTF8.GetString(data[1..end]);
            length = end + 2;
            return ScanResult.Done;
        }

        if (data[0] != (byte)'*')
        {
            return Invalid(0, $"expected '*' (an array) or '-' (an error), found 0x{data[0]:x2}", out error);
        }

        var scan = Number(data, 0, out var count, out var at, out error);
        if (scan != ScanResult.Done)
        {
            return scan;
        }

        if (count < 0 || count > maxElements)
        {
            return Invalid(0, $"array of {count} elements (at most {maxElements})", out error);
        }

        for (long e = 0; e < count; e++)
        {
            if (at >= data.Length)
            {
                return ScanResult.NeedMoreData;
            }

            var start = at;
            if (data[at] == (byte)'_')
            {
                if (data.Length - at < 3)
                {
                    return ScanResult.NeedMoreData;
                }

                if (data[at + 1] != (byte)'\r' || data[at + 2] != (byte)'\n')
                {
                    return Invalid(at, "'_' not followed by CRLF", out error);
                }

                missing++;
                at += 3;
                continue;
            }

            if (data[at] != (byte)'$')
            {
                return Invalid(at, $"element {e}: expected '$' or '_', found 0x{data[at]:x2}", out error);
            }

            scan = Number(data, start, out var size, out at, out error);
            if (scan != ScanResult.Done)
            {
                return scan;
            }

            if (size == -1)
            {
                missing++;
                continue;
            }

            if (size < 0 || size > maxValue)
            {
                return Invalid(start, $"element {e}: a value of {size} bytes (at most {maxValue})", out error);
            }

            if (data.Length - at < size + 2)
            {
                return ScanResult.NeedMoreData;
            }

            if (data[at + (int)size] != (byte)'\r' || data[at + (int)size + 1] != (byte)'\n')
            {
                return Invalid(at + (int)size, $"element {e}: {size} bytes not followed by CRLF", out error);
            }

            found++;
            at += (int)size + 2;
        }

        length = at;
        return ScanResult.Done;
    }

    /// <summary>The index of the CR of the CRLF ending the line at <paramref name="start"/>, or -1.</summary>
    private static int LineEnd(ReadOnlySpan<byte> data, int start, out bool tooLong)
    {
        var window = data[start..Math.Min(data.Length, start + MaxHeader)];
        var cr = window.IndexOf("\r\n"u8);
        tooLong = cr < 0 && window.Length == MaxHeader;
        return cr < 0 ? -1 : start + cr;
    }

    /// <summary>The decimal after the type byte at <paramref name="start"/>; <paramref name="next"/> just past its CRLF.</summary>
    private static ScanResult Number(ReadOnlySpan<byte> data, int start, out long value, out int next, out string? error)
    {
        value = 0;
        next = 0;
        error = null;
        var end = LineEnd(data, start, out var tooLong);
        if (end < 0)
        {
            return tooLong ? Invalid(start, "a header line without CRLF", out error) : ScanResult.NeedMoreData;
        }

        var digits = data[(start + 1)..end];
        if (!Utf8Parser.TryParse(digits, out value, out var used) || used != digits.Length)
        {
            return Invalid(start, $"'{Encoding.ASCII.GetString(digits)}' is not a length", out error);
        }

        next = end + 2;
        return ScanResult.Done;
    }

    private static ScanResult Invalid(int offset, string message, out string? error)
    {
        error = $"offset {offset}: {message}";
        return ScanResult.InvalidData;
    }
}
