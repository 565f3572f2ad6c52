namespace Appliance.Core.Resp;

/// <summary>
/// The hot path of a RESP port: a whole GET or MGET in the array form every client library
/// sends, read in one pass with its decimal keys parsed straight into a key array.
/// <code>
/// *&lt;argc&gt;\r\n  $3\r\nGET\r\n | $4\r\nMGET\r\n    (the name in any case)
///   then argc - 1 times   $&lt;len&gt;\r\n  &lt;len digits&gt;  \r\n     (len 1..19, one or two digits)
/// </code>
/// It gives no verdict of its own: anything else — another command, a key that is not 1 to 19
/// digits, a length written with a leading zero, a command not yet whole in the input or over the
/// size limit — returns 0, and <see cref="RespReader"/> reads that command the general way (and
/// names what is wrong with it). The general way costs, per key, a pass to find the argument, a
/// range stored in a list, and a second pass to parse it (17 % of a RESP server's CPU, perf).
/// </summary>
internal static class KeyCommandScanner
{
    /// <summary>Fewest bytes one key takes: <c>$1\r\n0\r\n</c>.</summary>
    private const int MinKeyBytes = 7;

    /// <summary>Reads one GET/MGET from the front of <paramref name="input"/>. Returns the bytes it
    /// took, or 0 when the command is not one this scanner reads (nothing is changed then but,
    /// perhaps, <paramref name="keys"/>' capacity). <paramref name="keys"/> grows only for keys
    /// whose bytes have arrived.</summary>
    public static int TryScan(ReadOnlySpan<byte> input, int maxRequest, ref ulong[] keys, out int count, out bool many)
    {
        count = 0;
        many = false;
        var at = 1; // past '*'
        if (input.IsEmpty || input[0] != (byte)'*' || !TryReadSmall(input, ref at, 7, out var argc) || argc < 2 || argc > RespReader.MaxArguments)
        {
            return 0;
        }

        if (Matches(input, at, "$3\r\nGET\r\n"u8))
        {
            at += 9;
            if (argc != 2)
            {
                return 0;
            }
        }
        else if (Matches(input, at, "$4\r\nMGET\r\n"u8))
        {
            at += 10;
            many = true;
        }
        else
        {
            return 0;
        }

        var wanted = argc - 1;
        if (keys.Length < wanted)
        {
            if ((long)wanted * MinKeyBytes > input.Length - at)
            {
                return 0; // not all here yet: the general reader waits for it
            }

            keys = new ulong[Math.Max(wanted, keys.Length * 2)];
        }

        for (var i = 0; i < wanted; i++)
        {
            if (at >= input.Length || input[at] != (byte)'$')
            {
                return 0;
            }

            at++;
            // 19 digits at most: 9,999,999,999,999,999,999 < 2^64, so the loop below cannot overflow.
            if (!TryReadSmall(input, ref at, 2, out var length) || length is 0 or > 19 || at + length + 2 > input.Length)
            {
                return 0;
            }

            // One digit at a time. (Eight at a time, the SWAR way, measured no faster over the
            // wire: two A/Bs of 6 and 8 pairs, medians 1.016 and 0.945.)
            ulong value = 0;
            foreach (var b in input.Slice(at, length))
            {
                var digit = (uint)(b - '0');
                if (digit > 9)
                {
                    return 0;
                }

                value = (value * 10) + digit;
            }

            at += length;
            if (input[at] != (byte)'\r' || input[at + 1] != (byte)'\n')
            {
                return 0;
            }

            at += 2;
            keys[i] = value;
        }

        if (at > maxRequest)
        {
            return 0;
        }

        count = wanted;
        return at;
    }

    /// <summary>A decimal of 1 to <paramref name="maxDigits"/> digits, no leading zero (unless it is
    /// "0"), then CRLF; <paramref name="at"/> moves past the CRLF.</summary>
    private static bool TryReadSmall(ReadOnlySpan<byte> input, ref int at, int maxDigits, out int value)
    {
        value = 0;
        var end = at;
        while (end < input.Length && end - at < maxDigits && (uint)(input[end] - '0') <= 9)
        {
            value = (value * 10) + (input[end] - '0');
            end++;
        }

        if (end == at || end + 1 >= input.Length || input[end] != (byte)'\r' || input[end + 1] != (byte)'\n'
            || (input[at] == (byte)'0' && end - at > 1))
        {
            return false;
        }

        at = end + 2;
        return true;
    }

    /// <summary>The bytes at <paramref name="at"/> are <paramref name="expected"/>, letters in either case.</summary>
    private static bool Matches(ReadOnlySpan<byte> input, int at, ReadOnlySpan<byte> expected)
    {
        if (input.Length - at < expected.Length)
        {
            return false;
        }

        for (var i = 0; i < expected.Length; i++)
        {
            var b = input[at + i];
            var e = expected[i];
            if (b != e && !(e is >= (byte)'A' and <= (byte)'Z' && b == e + 32))
            {
                return false;
            }
        }

        return true;
    }
}
