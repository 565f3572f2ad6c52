using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Formats;

namespace Appliance.Core.Tests.Formats;

public sealed class TextKvReaderTests
{
    [Fact]
    public void ReadsBothFormsAndSkipsBlankLines()
    {
        var text = "1676869128226002114:48241\t37064\t\t91\t-539\n\n7\t1.5 -2 3e2\n9:a:b\n";
        using var reader = new TextKvReader(new StringReader(text), "t.txt");
        Assert.True(reader.MoveNext());
        Assert.Equal(1676869128226002114UL, reader.Key);
        Assert.Equal("48241\t37064\t\t91\t-539", Encoding.ASCII.GetString(reader.Value));
        Assert.True(reader.MoveNext());
        Assert.Equal(7UL, reader.Key);
        Assert.Equal(3, reader.LineNumber);
        var floats = reader.Value.ToArray();
        Assert.Equal(12, floats.Length);
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(floats));
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(floats.AsSpan(4)));
        Assert.Equal(300f, BinaryPrimitives.ReadSingleLittleEndian(floats.AsSpan(8)));
        Assert.True(reader.MoveNext());
        Assert.Equal("a:b", Encoding.ASCII.GetString(reader.Value)); // everything after the first ':' is kept
        Assert.False(reader.MoveNext());
    }

    [Theory]
    [InlineData("1:x\nnot-a-key:1\n", "t.txt: line 2: key 'not-a-key' is not an unsigned 64-bit integer")]
    [InlineData("1\t0.5 abc\n", "t.txt: line 1: value #2 'abc' is not a number")]
    [InlineData("\n\njust text\n", "t.txt: line 3: expected 'key:value' or 'key<TAB>floats'")]
    [InlineData("-5:x\n", "t.txt: line 1: key '-5' is not an unsigned 64-bit integer")]
    [InlineData("18446744073709551616:x\n", "t.txt: line 1: key '18446744073709551616'")]
    public void MalformedLinesNameTheLine(string text, string expected)
    {
        using var reader = new TextKvReader(new StringReader(text), "t.txt");
        var error = Assert.Throws<InputFormatException>(() =>
        {
            while (reader.MoveNext())
            {
            }
        });
        Assert.StartsWith(expected, error.Message);
    }
}
