using System.Buffers.Text;
using System.Text;

using Appliance.Core.Protocol;

namespace Appliance.Core.Resp;

/// <summary>
/// RESP replies into an output buffer. RESP2 and RESP3 differ here only in the null
/// (<c>$-1</c> / <c>_</c>) and in maps (an array of pairs / <c>%</c>); <see cref="Resp3"/> picks.
/// </summary>
public sealed class RespWriter(FrameBuffer output)
{
    public FrameBuffer Output => output;

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

    public void Bulk(ReadOnlySpan<byte> value)
    {
        BulkHeader(value.Length);
        output.Write(value);
        output.Write("\r\n"u8);
    }

    public void Bulk(string value) => Bulk(Encoding.UTF8.GetBytes(value));

    /// <summary>The header of a bulk string whose <paramref name="length"/> bytes the caller writes, then <see cref="EndBulk"/>.</summary>
    public void BulkHeader(int length)
    {
        output.Write("$"u8);
        WriteNumber(length);
        output.Write("\r\n"u8);
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
