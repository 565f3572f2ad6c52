using System.Buffers.Text;

using Appliance.Core.Protocol;

namespace Appliance.Core.Resp;

/// <summary>
/// Finds one command at the front of the bytes a RESP client sent (RESP2 and RESP3 clients send
/// the same requests):
/// <code>
/// *&lt;argc&gt;\r\n  then argc times  $&lt;len&gt;\r\n &lt;len bytes&gt; \r\n     (what every client library sends)
/// PING\r\n  GET 42\r\n                                               (inline: telnet, nc; split on spaces)
/// </code>
/// Lengths are checked against <paramref name="maxRequest"/> as soon as their digits are read,
/// before anything is buffered for them; the argument count against <see cref="MaxArguments"/>.
/// The arguments are ranges into the input, valid until the input changes. A command that
/// arrives in pieces is resumed where the last call stopped (the input must start at the same
/// command each time), so a large MGET dripping in costs one pass, not one per read.
/// </summary>
internal sealed class RespReader
{
    private readonly List<Range> _args = [];
    private int _count = -1; // the array's argument count, once read
    private int _at;         // where the next argument starts
    /// <summary>Arguments per command: an MGET of a million keys, and its name.</summary>
    public const int MaxArguments = (1 << 20) + 2;

    /// <summary>An inline command's line (Redis uses the same bound).</summary>
    public const int MaxInline = 64 << 10;

    /// <summary>True when no command is part-read (the next input starts a new one).</summary>
    public bool BetweenCommands => _count < 0;

    /// <summary>The arguments of the command last read whole.</summary>
    public IReadOnlyList<Range> Arguments => _args;

    /// <summary>Reads one command. <paramref name="consumed"/>: its bytes (also set for a blank
    /// inline line, with no arguments); <paramref name="needed"/>, when more data is needed: a lower
    /// bound of the whole command's size, for the transport to make room.</summary>
    public ScanResult TryRead(ReadOnlySpan<byte> input, int maxRequest, out int consumed, out int needed, out string? error)
    {
        consumed = 0;
        needed = 0;
        error = null;
        if (input.IsEmpty)
        {
            return ScanResult.NeedMoreData;
        }

        if (_count < 0)
        {
            _args.Clear();
        }

        var result = input[0] == (byte)'*'
            ? TryReadArray(input, maxRequest, out consumed, out needed, out error)
            : TryReadInline(input, _args, out consumed, out needed, out error);
        if (result != ScanResult.NeedMoreData)
        {
            _count = -1; // the next call starts a new command
            _at = 0;
        }

        return result;
    }

    private ScanResult TryReadArray(ReadOnlySpan<byte> input, int maxRequest, out int consumed, out int needed, out string? error)
    {
        consumed = 0;
        needed = 0;
        error = null;
        if (_count < 0)
        {
            var start = 1;
            var head = ReadLength(input, ref start, MaxArguments, "argument count", out var count, out error);
            if (head != ScanResult.Done)
            {
                needed = input.Length + 1;
                return head;
            }

            (_count, _at) = (count, start);
        }

        var at = _at;
        while (_args.Count < _count)
        {
            if (at >= input.Length)
            {
                needed = at + 1;
                return ScanResult.NeedMoreData;
            }


            if (input[at] != (byte)'$')
            {
                error = $"expected '$' at offset {at}, got 0x{input[at]:x2} (arguments are bulk strings)";
                return ScanResult.InvalidData;
            }

            at++;
            var bulk = ReadLength(input, ref at, maxRequest, "bulk length", out var length, out error);
            if (bulk != ScanResult.Done)
            {
                needed = input.Length + 1;
                return bulk;
            }

            if ((long)at + length + 2 > maxRequest)
            {
                error = $"the command is larger than {maxRequest} bytes (--max-frame-mb)";
                return ScanResult.InvalidData;
            }

            if (input.Length < at + length + 2)
            {
                needed = at + length + 2;
                return ScanResult.NeedMoreData;
            }

            if (input[at + length] != (byte)'\r' || input[at + length + 1] != (byte)'\n')
            {
                error = $"bulk string at offset {at} is not followed by CRLF";
                return ScanResult.InvalidData;
            }

            _args.Add(new Range(at, at + length));
            at += length + 2;
            _at = at;
        }

        consumed = at;
        return ScanResult.Done;
    }

    /// <summary>Reads the decimal digits and CRLF after a type byte; at moves past them. Every
    /// verdict depends only on the bytes up to the one that decides it, so the same request gives
    /// the same answer however it is split across reads.</summary>
    private static ScanResult ReadLength(ReadOnlySpan<byte> input, ref int at, int max, string what, out int value, out string? error)
    {
        const int MaxDigits = 20;
        value = 0;
        error = null;
        var span = input[at..];
        var end = 0;
        long parsed = 0;
        while (end < span.Length && span[end] != (byte)'\r')
        {
            // Digits only: a request has no negative lengths (and "$-0" is not a length of 0).
            var digit = (uint)(span[end] - '0');
            if (end == MaxDigits || digit > 9)
            {
                error = $"{what} at offset {at} is not a number followed by CRLF";
                return ScanResult.InvalidData;
            }

            // At most 20 digits: past 18 the value is over any limit; saturate instead of overflowing.
            parsed = parsed > long.MaxValue / 10 - 9 ? long.MaxValue : (parsed * 10) + digit;
            end++;
        }

        if (end + 1 >= span.Length)
        {
            return ScanResult.NeedMoreData;
        }

        if (span[end + 1] != (byte)'\n' || end == 0)
        {
            error = $"{what} at offset {at} is not a number followed by CRLF";
            return ScanResult.InvalidData;
        }

        if (parsed > max)
        {
            error = $"{what} {(parsed == long.MaxValue ? System.Text.Encoding.ASCII.GetString(span[..end]) : parsed.ToString(System.Globalization.CultureInfo.InvariantCulture))} at offset {at} is outside 0..{max}";
            return ScanResult.InvalidData;
        }

        value = (int)parsed;
        at += end + 2;
        return ScanResult.Done;
    }

    private static ScanResult TryReadInline(ReadOnlySpan<byte> input, List<Range> args, out int consumed, out int needed, out string? error)
    {
        consumed = 0;
        needed = 0;
        error = null;
        var newline = input.IndexOf((byte)'\n');
        if (newline < 0 || newline > MaxInline)
        {
            if (input.Length > MaxInline)
            {
                error = $"an inline command is longer than {MaxInline} bytes";
                return ScanResult.InvalidData;
            }

            needed = input.Length + 1;
            return ScanResult.NeedMoreData;
        }

        var end = newline > 0 && input[newline - 1] == (byte)'\r' ? newline - 1 : newline;
        var at = 0;
        while (at < end)
        {
            while (at < end && input[at] is (byte)' ' or (byte)'\t')
            {
                at++;
            }

            var start = at;
            while (at < end && input[at] is not ((byte)' ' or (byte)'\t'))
            {
                at++;
            }

            if (at > start)
            {
                args.Add(new Range(start, at));
            }
        }

        consumed = newline + 1;
        return ScanResult.Done;
    }
}
