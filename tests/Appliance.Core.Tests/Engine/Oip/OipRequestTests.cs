using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Engine.Oip;

namespace Appliance.Core.Tests.Engine.Oip;

/// <summary>An infer request read from its JSON and binary parts: a shape claims memory only as
/// far as the bytes sent back it, and BYTES elements must be UTF-8 as /predict's lines must.</summary>
public sealed class OipRequestTests
{
    /// <summary>81 bytes claiming 2^28 elements allocated 2–4 GiB per request (a list sized from
    /// the shape before any data was read).</summary>
    [Theory]
    [InlineData("""{"inputs":[{"name":"lines","datatype":"BYTES","shape":[268435456],"data":["x"]}]}""", "needs 268435456 value(s), \"data\" has 1")]
    [InlineData("""{"inputs":[{"name":"dense","datatype":"FP32","shape":[16777216,16],"data":[1]}]}""", "needs 268435456 value(s)")]
    [InlineData("""{"inputs":[{"name":"lines","datatype":"BYTES","shape":[268435456],"parameters":{"binary_data_size":0}}]}""", "binary_data_size 0 holds at most 0")]
    public void AShapeTheBytesDoNotBackAllocatesNothingForIt(string json, string message)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<OipException>(() => OipRequest.Read(Encoding.UTF8.GetBytes(json), []));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.InRange(allocated, 0, 1 << 20);
    }

    [Fact]
    public void BinaryBytesThatAreNotUtf8AreRefusedNotScoredAsReplacementCharacters()
    {
        var element = new byte[] { (byte)'1', (byte)'\t', 0xFF, 0xFE };
        var binary = new byte[4 + element.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(binary, (uint)element.Length);
        element.CopyTo(binary, 4);
        var json = $$$"""{"inputs":[{"name":"lines","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":{{{binary.Length}}}}}]}""";
        var e = Assert.Throws<OipException>(() => OipRequest.Read(Encoding.UTF8.GetBytes(json), binary));
        Assert.Equal("input lines: element 0 is not valid UTF-8", e.Message);

        BinaryPrimitives.WriteUInt32LittleEndian(binary, 2);
        var good = OipRequest.Read(Encoding.UTF8.GetBytes(json.Replace($"{binary.Length}", "6", StringComparison.Ordinal)), binary.AsSpan(0, 6));
        Assert.Equal("1\t", Assert.Single(good.Inputs).Strings![0]);
    }
}
