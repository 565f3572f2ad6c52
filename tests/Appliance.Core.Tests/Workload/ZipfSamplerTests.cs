using Appliance.Core.Workload;

namespace Appliance.Core.Tests.Workload;

/// <summary>The load generator's skew: the frequencies drawn match 1/(k+1)^s, for exponents
/// below, at and above 1, and for key spaces far too large for a table of weights.</summary>
public sealed class ZipfSamplerTests
{
    [Theory]
    [InlineData(20, 0.5)]
    [InlineData(20, 0.99)]
    [InlineData(20, 1.0)]
    [InlineData(20, 1.5)]
    [InlineData(1000, 1.2)]
    public void FrequenciesFollowThePowerLaw(int n, double s)
    {
        var random = new Random(n + (int)(s * 100));
        var sampler = new ZipfSampler(n, s);
        var counts = new long[n];
        const int Draws = 400_000;
        for (var i = 0; i < Draws; i++)
        {
            counts[sampler.Next(random.NextDouble)]++;
        }

        var norm = Enumerable.Range(1, n).Sum(k => Math.Pow(k, -s));
        for (var k = 0; k < n; k++)
        {
            var expected = Math.Pow(k + 1, -s) / norm;
            Assert.True(Math.Abs((counts[k] / (double)Draws) - expected) < 0.004, $"rank {k}: {counts[k] / (double)Draws:F4} drawn, {expected:F4} expected");
        }
    }

    [Fact]
    public void AHugeKeySpaceNeedsNoTable()
    {
        // 10^12 ranks, s = 1.2: P(rank 0) = 1 / H(10^12, 1.2) ≈ 1 / zeta(1.2) = 0.1791 (the tail past 10^12 is < 1e-2 of it).
        var random = new Random(7);
        var sampler = new ZipfSampler(1_000_000_000_000, 1.2);
        long zero = 0;
        const int Draws = 200_000;
        for (var i = 0; i < Draws; i++)
        {
            var r = sampler.Next(random.NextDouble);
            Assert.InRange(r, 0, 999_999_999_999);
            zero += r == 0 ? 1 : 0;
        }

        Assert.InRange(zero / (double)Draws, 0.170, 0.185);
    }

    [Fact]
    public void OneRankIsAlwaysDrawn()
    {
        var sampler = new ZipfSampler(1, 0.99);
        var random = new Random(1);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(0, sampler.Next(random.NextDouble)));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void AnExponentThatIsNotPositiveIsRefused(double s) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZipfSampler(10, s));

    [Theory]
    [InlineData(1000)]
    [InlineData(2_147_483_647)] // a multiple of the scatter prime: left as it is
    public void ScatterIsABijection(long n)
    {
        var seen = new HashSet<long>();
        for (long r = 0; r < Math.Min(n, 100_000); r++)
        {
            var row = IndexedKeys.Scatter(r, n);
            Assert.InRange(row, 0, n - 1);
            Assert.True(seen.Add(row), $"rank {r} → row {row} twice");
        }
    }

    [Fact]
    public void IndexedKeysAreDistinct()
    {
        var keys = new HashSet<ulong>();
        for (long i = 0; i < 1_000_000; i++)
        {
            Assert.True(keys.Add(IndexedKeys.Of(i)));
        }
    }
}
