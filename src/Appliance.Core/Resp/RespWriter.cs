using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using Appliance.Core.Buffers;

namespace Appliance.Core.Resp;

/// <summary>
/// RESP replies into an output buffer. RESP2 and RESP3 differ here only in the null
/// (<c>$-1</c> / <c>_</c>) and in maps (an array of pairs / <c>%</c>); <see cref="Resp3"/> picks.
/// </summary>
internal sealed class RespWriter(OutputBuffer output)
{
    private ulong _header;        // "$<len>\r\n" of the last bulk length written, little-endian
    private int _headerBytes;
    private int _headerFor = -1;  // that length; -1: none kept

    public OutputBuffer Output => output;

    /// <summary>Set by HELLO 3: nulls and maps are written the RESP3 way.</summary>
    public bool Resp3 { get; set; }

    public void Simple(string text)
    {
        output.Write("+"u8);
        WriteAscii(text);
        output.Write("\r\n"u8);
    }

    /// <summary>An error reply: <paramref name="code"/> is its first word (ERR, NOAUTH, READONLY, WRONGPASS …).</summary>
    public void Error(string code, string message)
    {
        output.Write("-"u8);
        WriteAscii(code);
        output.Write(" "u8);
        // An error is one line: no CR or LF may reach the client.
        WriteAscii(message.Replace('\r', ' ').Replace('\n', ' '));
        output.Write("\r\n"u8);
    }

    public void Integer(long value)
    {
        output.Write(":"u8);
        WriteNumber(value);
        output.Write("\r\n"u8);
    }

    /// <summary><c>$len CRLF bytes CRLF</c>, written through one span: an MGET writes one per key,
    /// most often all of one length, so the header of the last length is kept as one word, ready
    /// to store (the header is at most 8 bytes up to a length of 99,999; longer ones are written
    /// digit by digit).</summary>
    public void Bulk(ReadOnlySpan<byte> value)
    {
        var span = output.GetSpan(value.Length + 16); // '$', at most 10 digits, two CRLFs
        if (value.Length != _headerFor && !KeepHeader(value.Length))
        {
            span[0] = (byte)'$';
            var n = 1 + Digits(span[1..], value.Length);
            span[n] = (byte)'\r';
            span[n + 1] = (byte)'\n';
            WriteBody(span, n + 2, value);
            return;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span, _header); // bytes past the header are overwritten next
        WriteBody(span, _headerBytes, value);
    }

    /// <summary>Keeps the header of <paramref name="length"/> when it fits a word. Out of line:
    /// its scratch space would cost every call of <see cref="Bulk(ReadOnlySpan{byte})"/> (perf).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool KeepHeader(int length)
    {
        if (length > 99_999)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[16];
        header[0] = (byte)'$';
        var n = 1 + Digits(header[1..], length);
        header[n] = (byte)'\r';
        header[n + 1] = (byte)'\n';
        (_header, _headerBytes, _headerFor) = (BinaryPrimitives.ReadUInt64LittleEndian(header), n + 2, length);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteBody(Span<byte> span, int n, ReadOnlySpan<byte> value)
    {
        value.CopyTo(span[n..]);
        n += value.Length;
        span[n] = (byte)'\r';
        span[n + 1] = (byte)'\n';
        output.Advance(n + 2);
    }

    public void Bulk(string value) => Bulk(Encoding.UTF8.GetBytes(value));

    /// <summary>The header of a bulk string whose <paramref name="length"/> bytes the caller writes, then <see cref="EndBulk"/>.</summary>
    public void BulkHeader(int length)
    {
        var span = output.GetSpan(13);
        span[0] = (byte)'$';
        var n = 1 + Digits(span[1..], length);
        span[n] = (byte)'\r';
        span[n + 1] = (byte)'\n';
        output.Advance(n + 2);
    }

    public void EndBulk() => output.Write("\r\n"u8);

    public void Null() => output.Write(Resp3 ? "_\r\n"u8 : "$-1\r\n"u8);

    public void Array(int count)
    {
        output.Write("*"u8);
        WriteNumber(count);
        output.Write("\r\n"u8);
    }

    /// <summary>A map of <paramref name="pairs"/> entries (RESP2: an array of 2 × pairs).</summary>
    public void Map(int pairs)
    {
        output.Write(Resp3 ? "%"u8 : "*"u8);
        WriteNumber(Resp3 ? pairs : 2L * pairs);
        output.Write("\r\n"u8);
    }

    /// <summary>A non-negative length in decimal; the short ones rows have written directly.</summary>
    private static int Digits(Span<byte> destination, int value)
    {
        if (value < 10)
        {
            destination[0] = (byte)('0' + value);
            return 1;
        }

        if (value < 100)
        {
            destination[0] = (byte)('0' + (value / 10));
            destination[1] = (byte)('0' + (value % 10));
            return 2;
        }

        Utf8Formatter.TryFormat(value, destination, out var written);
        return written;
    }

    private void WriteNumber(long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    private void WriteAscii(string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}
