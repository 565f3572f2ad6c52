using Appliance.Core.Protocol;

namespace Appliance.Core.Tests.Protocol;

public sealed class PredictCodecTests
{
    [Fact]
    public void RequestGoldenBytesAndRoundTrip()
    {
        var buffer = new FrameBuffer();
        PredictCodec.WriteRequest(buffer, 3, "b", ["1\t2", "x"]);
        Assert.Equal(string.Concat(
            "4342", "01", "04", "0000", "0000", "03000000", "13000000", // predict, id 3, payload 19
            "0100", "62",                                               // variant "b"
            "02000000",                                                 // 2 samples
            "03000000", "310932",                                       // "1\t2"
            "01000000", "78"), Convert.ToHexStringLower(buffer.WrittenSpan));
        var (variant, lines) = PredictCodec.ReadRequest(buffer.WrittenSpan[FrameHeader.Size..]);
        Assert.Equal("b", variant);
        Assert.Equal(["1\t2", "x"], lines);
    }

    [Fact]
    public void ResponseGoldenBytesAndRoundTrip()
    {
        var buffer = new FrameBuffer();
        PredictCodec.WriteResponse(buffer, 9, "7", "a", [0.5f, null], [null, "bad"]);
        Assert.Equal(string.Concat(
            "4342", "01", "04", "0100", "0000", "09000000", "1f000000", // response, id 9, payload 31
            "0100", "37", "0100", "61",                                 // version "7", variant "a"
            "02000000", "0000003f", "0000c0ff",                         // 0.5, NaN (float.NaN: ffc00000)
            "01000000", "01000000", "0300", "626164"),                  // sample 1: "bad"
            Convert.ToHexStringLower(buffer.WrittenSpan));
        var (version, variant, scores, errors) = PredictCodec.ReadResponse(buffer.WrittenSpan[FrameHeader.Size..]);
        Assert.Equal(("7", "a"), (version, variant));
        Assert.Equal(0.5f, scores[0]);
        Assert.True(float.IsNaN(scores[1]));
        Assert.Equal("bad", errors[1]);
    }

    [Theory]
    [InlineData("0000" + "05000000", "sample count 5 does not fit")]
    [InlineData("0000" + "01000000" + "09000000" + "41", "line length 9 exceeds the 1 bytes left")]
    [InlineData("0000" + "00000000" + "ff", "1 unexpected bytes")]
    public void MalformedRequestsAreProtocolErrors(string hex, string expected)
    {
        var e = Assert.Throws<ProtocolException>(() => PredictCodec.ReadRequest(Convert.FromHexString(hex)));
        Assert.Contains(expected, e.Message);
    }
}
