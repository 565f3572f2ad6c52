using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;

namespace Appliance.Core.Tests.Diagnostics;

/// <summary>The striped histogram behind every latency metric: buckets, sum and count stay exact
/// with many threads observing at once, and the text is cumulative as Prometheus expects.</summary>
public sealed class LatencyHistogramTests
{
    [Fact]
    public void ObservationsLandInTheirBucketsAndSumExactlyAcrossThreads()
    {
        var histogram = new LatencyHistogram([0.001, 0.01]);
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                histogram.Observe(TimeSpan.FromMicroseconds(500)); // ≤ 1 ms
                histogram.Observe(TimeSpan.FromMilliseconds(5));   // ≤ 10 ms
                histogram.Observe(TimeSpan.FromSeconds(1));        // above every bound
            }
        });

        var (counts, sum) = histogram.Snapshot();
        Assert.Equal([80_000L, 80_000L, 80_000L], counts);
        Assert.Equal(80_000 * (0.0005 + 0.005 + 1), sum, precision: 6);

        var text = new MetricsWriter();
        text.Histogram("cube_test_seconds", "test", histogram, "op=\"x\"");
        Assert.Equal(
            "# HELP cube_test_seconds test\n# TYPE cube_test_seconds histogram\n" +
            "cube_test_seconds_bucket{op=\"x\",le=\"0.001\"} 80000\ncube_test_seconds_bucket{op=\"x\",le=\"0.01\"} 160000\ncube_test_seconds_bucket{op=\"x\",le=\"+Inf\"} 240000\n" +
            $"cube_test_seconds_sum{{op=\"x\"}} {(80_000 * (0.0005 + 0.005 + 1)).ToString(System.Globalization.CultureInfo.InvariantCulture)}\ncube_test_seconds_count{{op=\"x\"}} 240000\n",
            text.ToString());
    }

    [Theory]
    [InlineData(new long[] { 0, 0, 0 }, 0.99, null)]            // nothing observed
    [InlineData(new long[] { 100, 0, 0 }, 0.99, 0.00099)]       // inside the first bucket, from 0
    [InlineData(new long[] { 50, 50, 0 }, 0.5, 0.001)]          // exactly at a bound
    [InlineData(new long[] { 0, 100, 0 }, 0.5, 0.0055)]         // halfway through the second bucket
    [InlineData(new long[] { 0, 0, 10 }, 0.99, 0.01)]           // above every bound: the last bound
    public void QuantileInterpolatesInsideItsBucketAsPrometheusDoes(long[] counts, double q, double? expected)
    {
        var quantile = LatencyHistogram.Quantile([0.001, 0.01], counts, q);
        if (expected is null)
        {
            Assert.Null(quantile);
        }
        else
        {
            Assert.Equal(expected.Value, quantile!.Value, precision: 9);
        }
    }

    [Fact]
    public void RecentFiguresCountOnlyWhatWasObservedSinceTheWindowStarted()
    {
        var histogram = new LatencyHistogram([0.001, 0.01]);
        for (var i = 0; i < 1000; i++)
        {
            histogram.Observe(TimeSpan.FromMicroseconds(500));
        }

        var recent = new RecentLatency(histogram);
        var first = recent.Read(); // since construction: the 1000 taken before count as recent too
        Assert.True(first.PerSecond > 0);
        Assert.InRange(first.P99Seconds!.Value, 0.0009, 0.001);
        Assert.True(first.WindowSeconds > 0);
    }
}
