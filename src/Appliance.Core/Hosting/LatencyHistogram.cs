namespace Appliance.Core.Hosting;

/// <summary>
/// A Prometheus histogram of durations in seconds: fixed upper bounds, one counter per bucket,
/// the sum and the count. <see cref="Observe"/> is lock-free (one interlocked add per call) so it
/// can sit on a request path; <see cref="MetricsWriter.Histogram"/> writes it out cumulatively.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>100 µs to 10 s: a lookup lands in the first buckets, a rollout phase in the last.</summary>
    public static readonly double[] DefaultBounds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly long[] _counts;
    private long _sumNanoseconds;

    public LatencyHistogram(double[]? bounds = null)
    {
        Bounds = bounds ?? DefaultBounds;
        _counts = new long[Bounds.Count + 1]; // the last is +Inf
    }

    public IReadOnlyList<double> Bounds { get; }

    public void Observe(double seconds)
    {
        var i = 0;
        while (i < Bounds.Count && seconds > Bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumNanoseconds, (long)(Math.Max(0, seconds) * 1e9));
    }

    public void Observe(TimeSpan elapsed) => Observe(elapsed.TotalSeconds);

    /// <summary>Per-bucket (not cumulative) counts, the last one above every bound; the sum in seconds.</summary>
    public (long[] Counts, double Sum) Snapshot()
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Volatile.Read(ref _counts[i]);
        }

        return (counts, Volatile.Read(ref _sumNanoseconds) / 1e9);
    }
}
