using System.Text;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;

namespace Appliance.Core.Tests.Protocol;

/// <summary>The load generator's MGET reply framing: a table of whole, partial and malformed
/// replies; every prefix of a whole reply asks for more data, never a wrong count.</summary>
public sealed class MgetReplyScannerTests
{
    [Theory]
    [InlineData("*0\r\n", 0, 0)]
    [InlineData("*2\r\n$-1\r\n$3\r\nabc\r\n", 1, 1)]
    [InlineData("*3\r\n_\r\n$0\r\n\r\n$2\r\n\r\n\r\n", 2, 1)] // RESP3 null; an empty value; a value that is CRLF
    [InlineData("*1\r\n$4\r\nab\r\n\r\n", 1, 0)]
    public void CountsFoundAndMissing(string reply, int found, int missing)
    {
        var bytes = Encoding.Latin1.GetBytes(reply + "*0\r\n"); // a next reply behind it is not read
        Assert.Equal(ScanResult.Done, MgetReplyScanner.TryScan(bytes, 1 << 20, 100, out var length, out var f, out var m, out var error));
        Assert.Equal((reply.Length, found, missing, null), (length, f, m, error));
    }

    [Fact]
    public void AnErrorReplyIsFramedWithItsText()
    {
        var bytes = "-ERR unknown command 'MGET'\r\n"u8;
        Assert.Equal(ScanResult.Done, MgetReplyScanner.TryScan(bytes, 1 << 20, 100, out var length, out var f, out var m, out var error));
        Assert.Equal((bytes.Length, 0, 0, "ERR unknown command 'MGET'"), (length, f, m, error));
    }

    [Theory]
    [InlineData("*2\r\n$-1\r\n$3\r\nabc\r\n")]
    [InlineData("*1\r\n_\r\n")]
    [InlineData("-ERR x\r\n")]
    public void EveryPrefixNeedsMoreData(string reply)
    {
        var bytes = Encoding.Latin1.GetBytes(reply);
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.Equal(ScanResult.NeedMoreData, MgetReplyScanner.TryScan(bytes.AsSpan(0, n), 1 << 20, 100, out _, out _, out _, out _));
        }
    }

    [Theory]
    [InlineData("+OK\r\n", "offset 0: expected '*'")]
    [InlineData("*-1\r\n", "offset 0: array of -1")]
    [InlineData("*3\r\n_\r\n_\r\n_\r\n", "offset 0: array of 3 elements (at most 2)")] // more elements than keys asked for
    [InlineData("*99999999999\r\n", "offset 0: array of 99999999999 elements")]
    [InlineData("*x\r\n", "offset 0: 'x' is not a length")]
    [InlineData("*1\r\n:5\r\n", "offset 4: element 0: expected '$' or '_'")]
    [InlineData("*1\r\n$3\r\nabcd\r\n", "offset 11: element 0: 3 bytes not followed by CRLF")]
    [InlineData("*1\r\n$-2\r\n", "offset 4: element 0: a value of -2 bytes")]
    [InlineData("*1\r\n$99\r\n", "offset 4: element 0: a value of 99 bytes (at most 64)")]
    [InlineData("*1\r\n_x\r\n", "offset 4: '_' not followed by CRLF")]
    public void MalformedRepliesNameTheOffset(string reply, string expected)
    {
        Assert.Equal(ScanResult.InvalidData, MgetReplyScanner.TryScan(Encoding.Latin1.GetBytes(reply), 64, 2, out _, out _, out _, out var error));
        Assert.StartsWith(expected, error);
    }

    [Fact]
    public void AHeaderWithoutCrlfIsInvalidOnceLongerThanTheLimit()
    {
        var header = Encoding.ASCII.GetBytes("*" + new string('1', MgetReplyScanner.MaxHeader));
        Assert.Equal(ScanResult.NeedMoreData, MgetReplyScanner.TryScan(header.AsSpan(0, MgetReplyScanner.MaxHeader - 1), 64, int.MaxValue, out _, out _, out _, out _));
        Assert.Equal(ScanResult.InvalidData, MgetReplyScanner.TryScan(header, 64, int.MaxValue, out _, out _, out _, out var error));
        Assert.Contains("without CRLF", error);
    }
}
