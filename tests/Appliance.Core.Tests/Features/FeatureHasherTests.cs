using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Features;

namespace Appliance.Core.Tests.Features;

/// <summary>The paddle hashing test vectors, and Criteo parsing.</summary>
public sealed class FeatureHasherTests
{
    /// <summary>Line 1 of tests/data/criteo-sample-1000.txt (unlabelled, 39 fields).</summary>
    private const string Line1 = "\t29\t50\t5\t7260\t437\t1\t4\t14\t\t1\t0\t6\t5a9ed9b0\ta0e12995\ta1e14474\t08a40877\t25c83c98\t\t964d1fdd\t5b392875\ta73ee510\tde89c3d2\t59cd5ae7\t8d98db20\t8b216f7b\t1adce6ef\t78c64a1d\t3ecdadf7\t3486227d\t1616f155\t21ddcdc9\t5840adea\t2c277e62\t\t423fab69\t54c91918\t9b3e8820\te75c9ae9";

    private static readonly ulong[] Line1PaddleIds =
    [
        230803, 391755, 58292, 139510, 286835, 25207, 237166, 718499, 27346, 372938, 931289, 860664,
        539272, 202774, 447118, 832654, 228085, 767481, 880474, 31181, 728612, 26235, 761351, 509688,
        901646, 833795,
    ];

    [Fact]
    public void CPython2HashMatchesTheReference()
    {
        Assert.Equal(8281466769017718362L, FeatureHasher.CPython2Hash("145a9ed9b0"u8));
        Assert.Equal(6409420710493644321L, FeatureHasher.CPython2Hash("135a9ed9b0"u8));
        Assert.Equal(230803UL, FeatureHasher.PaddleKey(0, "5a9ed9b0"));
        Assert.Equal(0L, FeatureHasher.CPython2Hash([]));
    }

    [Fact]
    public void Line1GivesTheTrainingIds()
    {
        var sample = CriteoSample.Parse(Line1);
        Assert.Null(sample.Label);
        Assert.Equal(Line1PaddleIds, sample.Sparse.Select((token, slot) => FeatureHasher.PaddleKey(slot, token)));
    }

    [Fact]
    public void Line1GivesTheReferenceDenseVector()
    {
        var sample = CriteoSample.Parse(Line1);
        var dense = new float[13];
        DenseNormalizer.Criteo.Normalize(sample.Dense, dense);
        float[] expected = [0f, 0.0530680f, 0.5f, 0.1f, 0.1134375f, 0.874f, 0.01f, 0.08f, 0.028f, 0f, 0.1f, 0f, 0.12f];
        for (var k = 0; k < 13; k++)
        {
            Assert.Equal(expected[k], dense[k], 6);
        }
    }

    [Fact]
    public void TheWholeSampleFileParsesAndHashesIntoTheTable()
    {
        var path = TestData.CriteoSample;
        var lines = File.ReadAllLines(path);
        Assert.Equal(1000, lines.Length);
        Assert.Equal(Line1, lines[0]);
        foreach (var line in lines)
        {
            var sample = CriteoSample.Parse(line);
            Assert.All(sample.Sparse.Select((t, s) => FeatureHasher.PaddleKey(s, t)), id => Assert.InRange(id, 0UL, 1_000_000UL));
        }
    }

    [Fact]
    public void Xxh64KeysSeparateSlotsAndUseAllBits()
    {
        var a = FeatureHasher.Xxh64Key(0, "5a9ed9b0");
        var b = FeatureHasher.Xxh64Key(1, "5a9ed9b0");
        Assert.NotEqual(a, b);
        Assert.Equal(System.IO.Hashing.XxHash64.HashToUInt64([0, .. Encoding.ASCII.GetBytes("5a9ed9b0")]), a);
        Assert.True(a > 1_000_001 || b > 1_000_001);
    }

    [Theory]
    [InlineData("1\t2\t3", "3 fields; a Criteo sample has 40")]
    [InlineData("\tx" + "\t1\t1\t1\t1\t1\t1\t1\t1\t1\t1\t1" + "\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta", "I2 = 'x' is not a number")]
    [InlineData("2\t1" + "\t1\t1\t1\t1\t1\t1\t1\t1\t1\t1\t1\t1" + "\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta\ta", "label '2' is not 0 or 1")]
    public void MalformedLinesNameTheField(string line, string expected)
    {
        var e = Assert.Throws<FormatException>(() => CriteoSample.Parse(line));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(nameof(HashScheme.Paddle))]
    [InlineData(nameof(HashScheme.Xxh64))]
    public void KeysOfALineAreTheKeysOfItsTokens(string schemeName)
    {
        var scheme = Enum.Parse<HashScheme>(schemeName);
        // The line-at-a-time hasher runs four tokens side by side: every mix of lengths, empty
        // tokens and non-ASCII chars (UTF-8 of more than one byte) must give the per-token keys.
        string[] odd = ["", "a", "é", "x\u007f", "\u0080", "日本語", "🙂z", new('q', 300), "5a9ed9b0", "ab", "\uffff"];
        var lines = File.ReadAllLines(TestData.CriteoSample).Select(l => l.Split('\t')[13..]).ToList();
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            lines.Add([.. Enumerable.Range(0, 26).Select(_ => odd[random.Next(odd.Length)])]);
        }

        var keys = new ulong[26];
        foreach (var tokens in lines)
        {
            var line = string.Join('\t', tokens);
            var ranges = new Range[26];
            var start = 0;
            for (var s = 0; s < 26; s++)
            {
                ranges[s] = new Range(start, start + tokens[s].Length);
                start += tokens[s].Length + 1;
            }

            FeatureHasher.Keys(scheme, line, ranges, keys);
            Assert.Equal(tokens.Select((t, s) => FeatureHasher.Key(scheme, s, t)), keys);
        }
    }

    [Fact]
    public void KeysOfLine1AreTheTrainingIds()
    {
        Span<double?> dense = stackalloc double?[13];
        var tokens = new Range[26];
        CriteoSample.Read(Line1, dense, tokens, out var line);
        var keys = new ulong[26];
        FeatureHasher.Keys(HashScheme.Paddle, line, tokens, keys);
        Assert.Equal(Line1PaddleIds, keys);
    }

    /// <summary>I1..I13 read as double.Parse reads them, bit for bit (−0 included), whether the
    /// integer fast path or the general parser takes the field.</summary>
    [Theory]
    [InlineData("0")]
    [InlineData("7260")]
    [InlineData("-1")]
    [InlineData("-0")]
    [InlineData("007")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("1e3")]
    [InlineData("1.5")]
    [InlineData("-2.25")]
    [InlineData("999999999999999999")]
    [InlineData("1234567890123456789")]
    [InlineData("9007199254740993")]
    [InlineData("-9007199254740993")]
    [InlineData("123456789012345678901234567890")]
    public void DenseCountsReadAsDoubleParseReadsThem(string field)
    {
        Span<double?> dense = stackalloc double?[13];
        Span<Range> tokens = stackalloc Range[26];
        CriteoSample.Read(DenseLine(field), dense, tokens, out _);
        var expected = double.Parse(field, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(dense[0]!.Value));
    }

    [Theory]
    [InlineData("-")]
    [InlineData("12a")]
    [InlineData("--1")]
    [InlineData("1-")]
    public void ABadDenseCountIsRefused(string field)
    {
        var e = Assert.Throws<FormatException>(() => CriteoSample.Parse(DenseLine(field)));
        Assert.Contains($"I1 = '{field}' is not a number", e.Message);
    }

    private static string DenseLine(string first) =>
        first + string.Concat(Enumerable.Repeat("\t1", 12)) + string.Concat(Enumerable.Repeat("\ta", 26));

    [Fact]
    public void ALabelledLineIsRead()
    {
        var sample = CriteoSample.Parse("1\t" + Line1);
        Assert.Equal(1, sample.Label);
        Assert.Equal(29.0, sample.Dense[1]);
        Assert.Equal("e75c9ae9", sample.Sparse[25]);
    }
}
