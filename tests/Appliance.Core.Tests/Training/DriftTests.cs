using System.Security.Cryptography;
using System.Text;
using Appliance.Core.Training;

namespace Appliance.Core.Tests.Training;

/// <summary>The drifting hidden model (cube gen-data --drift): undrifted data is what it was
/// before drift existed, byte for byte; drift moves the click model and nothing else.</summary>
public sealed class DriftTests
{
    [Fact]
    public void DataWithoutDriftIsByteForByteWhatItWasBeforeDriftExisted()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("g9.tsv");
        GeneratedData.Write(path, 2000, seed: 9);
        // sha256 of `cube gen-data --rows 2000 --seed 9` (and its .truth) from the build before drift.
        Assert.Equal("e81911c295d6ab6d92a5c7dd9afd77a9891e0f81da64917c3310ea158010f5e8", Sha256(path));
        Assert.Equal("1c5dd9e95d52451ec075a58ebd8abc608fc94553c822f3b29c7b62560ed1780b", Sha256(path + GeneratedData.TruthSuffix));
        GeneratedData.Write(path, 2000, seed: 9, stream: 1, drift: 0, fromRow: 12345);
        Assert.Equal("e65bbee8fb5255262580373f91999d9a6129c89b3c3509da2bd0287efcab3a43", Sha256(path));
    }

    [Fact]
    public void DriftChangesTheClickModelNotTheRows()
    {
        var model = new SyntheticCriteo(seed: 5);
        var (still, turned, quarter) = (new List<double>(), new List<double>(), new List<double>());
        for (var i = 0; i < 3000; i++)
        {
            var (a, b, c) = (new StringBuilder(), new StringBuilder(), new StringBuilder());
            still.Add(Logit(model.Sample(new Random(i), a)));
            turned.Add(Logit(model.Sample(new Random(i), b, angle: 0)));
            quarter.Add(Logit(model.Sample(new Random(i), c, angle: Math.PI / 2)));
            // The label is drawn against P(click), so only the fields after it must match.
            Assert.Equal(a.ToString()[2..], c.ToString()[2..]);
            Assert.Equal(a.ToString(), b.ToString());
        }

        Assert.Equal(still, turned);
        // A quarter turn replaces the token effects by independent ones: what is left in common
        // is the integer fields and the interactions, a fraction of the variance.
        var r = Correlation(still, quarter);
        Assert.True(r is > 0 and < 0.6, $"correlation of the logits before and after a quarter turn: {r:F3}");
        Assert.True(Correlation(still, quarter.Select((_, i) => Logit(model.Sample(new Random(i), new StringBuilder(), angle: 0.05))).ToList()) > 0.99, "a small turn keeps the model close");
    }

    [Fact]
    public void TheAngleGrowsAlongOneTimelineAcrossFiles()
    {
        Assert.Equal(0, GeneratedData.Angle(0, 1_000_000));
        Assert.Equal(Math.PI / 2, GeneratedData.Angle(1, GeneratedData.DriftRows), 12);
        // A file starting at row R continues one of R rows: the same angle for the same timeline row.
        Assert.Equal(GeneratedData.Angle(0.5, 150_000), GeneratedData.Angle(0.5, 100_000 + 50_000), 12);
        Assert.True(GeneratedData.Angle(0.5, 200_000) > GeneratedData.Angle(0.5, 100_000));
    }

    private static double Logit(double p) => Math.Log(p / (1 - p));

    private static double Correlation(List<double> x, List<double> y)
    {
        var (mx, my) = (x.Average(), y.Average());
        var cov = x.Select((v, i) => (v - mx) * (y[i] - my)).Sum();
        return cov / Math.Sqrt(x.Sum(v => (v - mx) * (v - mx)) * y.Sum(v => (v - my) * (v - my)));
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
