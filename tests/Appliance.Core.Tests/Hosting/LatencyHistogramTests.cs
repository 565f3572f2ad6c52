using Appliance.Core.Hosting;

namespace Appliance.Core.Tests.Hosting;

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
}
