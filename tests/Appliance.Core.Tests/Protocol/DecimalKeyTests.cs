using System.Text;
using Appliance.Core.Resp;

namespace Appliance.Core.Tests.Protocol;

public sealed class DecimalKeyTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("7", 7UL)]
    [InlineData("12345678", 12345678UL)] // exactly one chunk of eight
    [InlineData("000000123456", 123456UL)] // redis-benchmark's __rand_int__
    [InlineData("999999999999", 999999999999UL)]
    [InlineData("123456789", 123456789UL)] // a chunk and a one-digit tail
    [InlineData("1234567890123456", 1234567890123456UL)] // two chunks
    [InlineData("9999999999999999999", 9999999999999999999UL)] // 19 digits: two chunks and a tail of three
    [InlineData("18446744073709551615", ulong.MaxValue)] // 20 digits: the general parser
    [InlineData("0000000000000000000001", 1UL)] // leading zeros past 19 digits
    public void ParsesDecimalKeys(string text, ulong expected)
    {
        Assert.True(DecimalKey.TryParse(Encoding.ASCII.GetBytes(text), out var key));
        Assert.Equal(expected, key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("1 ")]
    [InlineData("12345a78")] // a letter inside a chunk
    [InlineData("1234567/")] // '0' - 1, at the chunk's last byte
    [InlineData("/1234567")] // at its first
    [InlineData("123:5678")] // '9' + 1
    [InlineData("1234567\u00ff9999")] // a byte whose add carries out of its own lane
    [InlineData("12345678901:")] // in the tail
    [InlineData("123456789012345\u0000")] // a NUL at the end (ulong.TryParse lets trailing NULs through)
    [InlineData("18446744073709551616")] // ulong.MaxValue + 1
    [InlineData("99999999999999999999")]
    public void RefusesWhatIsNotADecimalUInt64(string text)
    {
        Assert.False(DecimalKey.TryParse(Encoding.Latin1.GetBytes(text), out _));
    }

    [Fact]
    public void AgreesWithTheOneDigitAtATimeParseOnRandomText()
    {
        var random = new Random(5);
        var bytes = new byte[19];
        for (var i = 0; i < 200_000; i++)
        {
            var length = random.Next(1, 20);
            for (var b = 0; b < length; b++)
            {
                // Mostly digits, sometimes any byte: both the accepting and the refusing paths.
                bytes[b] = random.Next(16) == 0 ? (byte)random.Next(256) : (byte)('0' + random.Next(10));
            }

            var text = bytes.AsSpan(0, length);
            var expected = OneDigitAtATime(text, out var reference);
            Assert.Equal(expected, DecimalKey.TryParse(text, out var key));
            Assert.Equal(reference, key);
        }
    }

    /// <summary>The reference: what the server parsed before, one multiply-add per digit.</summary>
    private static bool OneDigitAtATime(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                value = 0;
                return false;
            }

            value = (value * 10) + (ulong)(b - '0');
        }

        return true;
    }
}
