namespace Appliance.Core.Diagnostics;

/// <summary>
/// A Prometheus histogram of durations in seconds: fixed upper bounds, one counter per bucket,
/// the sum and the count; <see cref="MetricsWriter.Histogram"/> writes it out cumulatively.
/// <see cref="Observe"/> sits on request paths (the data plane answers millions of keys per
/// second per core), so the counters are striped: each thread adds to its own cache lines
/// (uncontended interlocked adds, no line bouncing between cores); a scrape sums the stripes.
/// Measured on the server's lookup path (bench/server-vs-redis.sh): one shared set of counters
/// cost 5-10 % of throughput; striped, the cost is within the benchmark's noise.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>25 µs to 10 s: a lookup on the server lands in the first buckets (most answer in
    /// under 100 µs, so the first bounds are finer), a slow HTTP request in the last.</summary>
    public static readonly double[] DefaultBounds = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>10 ms to an hour: control-plane work (a staging download, a build, a rollout phase).</summary>
    public static readonly double[] LongBounds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    private const int Stripes = 16; // a power of two
    private static int s_nextStripe;

    [ThreadStatic]
    private static int t_stripe;

    private readonly long[] _bounds; // upper bounds in nanoseconds
    private readonly int _stride;    // longs per stripe: buckets, +Inf, sum — padded to whole cache lines
    private readonly long[] _cells;

    public LatencyHistogram(double[]? bounds = null)
    {
        Bounds = bounds ?? DefaultBounds;
        _bounds = [.. Bounds.Select(b => (long)(b * 1e9))];
        _stride = ((Bounds.Count + 2 + 7) / 8 * 8) + 8; // and one spare line between stripes
        _cells = new long[_stride * Stripes];
    }

    public IReadOnlyList<double> Bounds { get; }

    public void Observe(double seconds) => ObserveNanoseconds((long)(Math.Max(0, seconds) * 1e9));

    public void Observe(TimeSpan elapsed) => ObserveNanoseconds(Math.Max(0, elapsed.Ticks) * 100);

    /// <summary>Per-bucket (not cumulative) counts, the last one above every bound; the sum in seconds.</summary>
    public (long[] Counts, double Sum) Snapshot()
    {
        var buckets = Bounds.Count + 1;
        var counts = new long[buckets];
        long sum = 0;
        for (var s = 0; s < Stripes; s++)
        {
            var at = s * _stride;
            for (var i = 0; i < buckets; i++)
            {
                counts[i] += Volatile.Read(ref _cells[at + i]);
            }

            sum += Volatile.Read(ref _cells[at + buckets]);
        }

        return (counts, sum / 1e9);
    }

    /// <summary>The <paramref name="q"/> quantile of per-bucket <paramref name="counts"/> (as
    /// <see cref="Snapshot"/> gives them, or a difference of two), interpolated linearly inside its
    /// bucket as Prometheus's <c>histogram_quantile</c> does; above the last bound, the last bound.
    /// Null when nothing was observed.</summary>
    public static double? Quantile(IReadOnlyList<double> bounds, IReadOnlyList<long> counts, double q)
    {
        var total = counts.Sum();
        if (total <= 0)
        {
            return null;
        }

        var rank = q * total;
        long below = 0;
        for (var i = 0; i < counts.Count; i++)
        {
            if (below + counts[i] >= rank && counts[i] > 0)
            {
                if (i >= bounds.Count)
                {
                    return bounds[^1];
                }

                var lower = i == 0 ? 0 : bounds[i - 1];
                return lower + ((bounds[i] - lower) * (rank - below) / counts[i]);
            }

            below += counts[i];
        }

        return bounds[^1];
    }

    private void ObserveNanoseconds(long nanoseconds)
    {
        var i = 0;
        while (i < _bounds.Length && nanoseconds > _bounds[i])
        {
            i++;
        }

        var stripe = t_stripe;
        if (stripe == 0)
        {
            stripe = t_stripe = (Interlocked.Increment(ref s_nextStripe) & (Stripes - 1)) + 1;
        }

        var at = (stripe - 1) * _stride;
        Interlocked.Increment(ref _cells[at + i]);
        Interlocked.Add(ref _cells[at + _bounds.Length + 1], nanoseconds);
    }
}
