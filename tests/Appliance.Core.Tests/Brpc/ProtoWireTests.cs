using Appliance.Core.Brpc;

namespace Appliance.Core.Tests.Brpc;

/// <summary>The protobuf wire format as baidu_std's messages use it: varints and DictRequest,
/// valid and malformed inputs, checked against encodings protobuf's documentation gives.</summary>
public sealed class ProtoWireTests
{
    [Theory]
    [InlineData("00", 0UL)]
    [InlineData("01", 1UL)]
    [InlineData("7f", 127UL)]
    [InlineData("8001", 128UL)]
    [InlineData("ac02", 300UL)]
    [InlineData("ffffffff0f", 4294967295UL)]
    [InlineData("ffffffffffffffffff01", ulong.MaxValue)]
    public void VarintsReadWriteAndSizeAsProtobufDoes(string hex, ulong value)
    {
        var bytes = Convert.FromHexString(hex);
        var at = 0;
        Assert.Equal(value, ProtoWire.ReadVarint(bytes, ref at));
        Assert.Equal(bytes.Length, at);
        Assert.Equal(bytes.Length, ProtoWire.VarintSize(value));
        var written = new byte[ProtoWire.MaxVarintSize];
        Assert.Equal(hex, Convert.ToHexStringLower(written.AsSpan(0, ProtoWire.WriteVarint(written, value))));
    }

    [Theory]
    [InlineData("80", "runs past the end")]
    [InlineData("ffff", "runs past the end")]
    [InlineData("ffffffffffffffffffff01", "longer than 10 bytes")]
    public void AMalformedVarintNamesItsOffset(string hex, string reason)
    {
        var e = Assert.Throws<ProtoFormatException>(() =>
        {
            var at = 0;
            ProtoWire.ReadVarint(Convert.FromHexString(hex), ref at);
        });
        Assert.Contains("offset 0", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0801080208ac02", "1,2,300", false)] // unpacked: what the original clients send
    [InlineData("0a0401ac0202", "1,300,2", false)] // packed
    [InlineData("08070a020809080a1001", "7,8,9,10", true)] // both, and version_required
    [InlineData("1801220378797a0805", "5", false)] // unknown fields 3 (varint) and 4 (string) skipped
    [InlineData("1000", "", false)]
    [InlineData("", "", false)]
    public void DictRequestsReadInTheirOrder(string hex, string keys, bool versionRequired)
    {
        var payload = Convert.FromHexString(hex);
        var buffer = new ulong[payload.Length];
        var count = DictRequest.Read(payload, buffer, out var version);
        Assert.Equal(keys, string.Join(',', buffer.Take(count)));
        Assert.Equal(versionRequired, version);
    }

    [Theory]
    [InlineData("0d01020304", "keys (field 1) has wire type 5")]
    [InlineData("0a05010203", "length 5 runs past the end")]
    [InlineData("0801088080", "varint runs past the end")]
    [InlineData("1205", "wire type 2, expected varint")]
    [InlineData("1b", "wire type 3 is not supported")]
    [InlineData("00", "field number 0")]
    public void AMalformedDictRequestIsRefusedWithTheFault(string hex, string reason)
    {
        var e = Assert.Throws<ProtoFormatException>(() => DictRequest.Read(Convert.FromHexString(hex), new ulong[8], out _));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeysBeyondTheBufferAreCountedNotStored()
    {
        var payload = Convert.FromHexString("080108020803");
        var buffer = new ulong[2];
        Assert.Equal(3, DictRequest.Read(payload, buffer, out _));
        Assert.Equal([1UL, 2UL], buffer);
    }

    [Fact]
    public void AWrittenDictRequestReadsBack()
    {
        ulong[] keys = [0, 1, 127, 128, ulong.MaxValue, 1];
        var bytes = new byte[DictRequest.Size(keys, versionRequired: true)];
        Assert.Equal(bytes.Length, DictRequest.Write(bytes, keys, versionRequired: true));
        var read = new ulong[bytes.Length];
        Assert.Equal(keys, read.Take(DictRequest.Read(bytes, read, out var version)));
        Assert.True(version);
    }

    [Fact]
    public void DictValuesAreWrittenAsProtobufEncodesThem()
    {
        // found: 0a 07 | 08 00 | 12 03 'a' 'b' 'c'; missing: status (uint32)-1 and empty bytes.
        var found = new byte[16];
        Assert.Equal("0a070800120361626" + "3", Convert.ToHexStringLower(found.AsSpan(0, DictResponse.WriteFound(found, "abc"u8))));
        Assert.Equal(9, DictResponse.FoundSize(3));
        Assert.Equal("0a0808ffffffff0f1200", Convert.ToHexStringLower(DictResponse.MissingValue));

        // A value past 123 bytes needs two-byte lengths: the general writer.
        var longValue = new byte[200];
        var buffer = new byte[300];
        var size = DictResponse.WriteFound(buffer, longValue);
        Assert.Equal(DictResponse.FoundSize(200), size);
        var seen = new List<(uint, int)>();
        DictResponse.Read(buffer.AsSpan(0, size), seen, static (s, _, status, value) => s.Add((status, value.Length)));
        Assert.Equal([(0u, 200)], seen);
    }
}
