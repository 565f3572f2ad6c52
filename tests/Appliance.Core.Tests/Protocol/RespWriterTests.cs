using System.Text;
using Appliance.Core.Buffers;
using Appliance.Core.Resp;

namespace Appliance.Core.Tests.Protocol;

/// <summary>Bulk strings of changing lengths, one after another: the kept header of the last
/// length must never leak into a bulk of another (lengths of 1 to 6 digits, and back).</summary>
public sealed class RespWriterTests
{
    [Fact]
    public void EveryBulkHasItsOwnLength()
    {
        int[] lengths = [40, 40, 1, 0, 40, 123_456, 9, 10, 99, 100, 40, 1_000_000, 40];
        var buffer = new OutputBuffer(0);
        var writer = new RespWriter(buffer);
        var expected = new StringBuilder();
        foreach (var length in lengths)
        {
            var value = new string((char)('a' + (length % 26)), length);
            writer.Bulk(Encoding.ASCII.GetBytes(value));
            expected.Append('$').Append(length).Append("\r\n").Append(value).Append("\r\n");
        }

        Assert.Equal(expected.ToString(), Encoding.ASCII.GetString(buffer.WrittenSpan));
    }
}
