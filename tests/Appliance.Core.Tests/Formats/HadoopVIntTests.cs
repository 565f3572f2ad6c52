using Appliance.Core.Formats;

namespace Appliance.Core.Tests.Formats;

public sealed class HadoopVIntTests
{
    [Theory]
    [InlineData(0L, "00")]
    [InlineData(34L, "22")]
    [InlineData(127L, "7f")]
    [InlineData(-112L, "90")]
    [InlineData(128L, "8f80")]
    [InlineData(255L, "8fff")]
    [InlineData(256L, "8e0100")]
    [InlineData(-113L, "8770")]
    [InlineData(-1000L, "8603e7")]
    [InlineData(long.MaxValue, "887fffffffffffffff")]
    public void EncodesAndDecodesLikeHadoop(long value, string hex)
    {
        Span<byte> buffer = stackalloc byte[9];
        var n = HadoopVInt.Encode(value, buffer);
        Assert.Equal(hex, Convert.ToHexStringLower(buffer[..n]));
        Assert.Equal(n, HadoopVInt.DecodedSize((sbyte)buffer[0]));
        Assert.Equal(value, HadoopVInt.Decode(buffer[..n]));
    }
}
