namespace Appliance.Cli;

/// <summary>
/// Per-request latencies as a histogram of 1 µs buckets up to 100 ms (one overflow bucket above,
/// with the exact maximum kept), recorded with one interlocked increment: no lock for a load
/// generator's completion threads to contend on, no allocation, fixed memory (800 KB).
/// Percentiles are exact to the microsecond below 100 ms.
/// </summary>
internal sealed class LatencyRecorder
{
    private const int Buckets = 100_000;

    private readonly long[] _counts = new long[Buckets + 1];
    private long _max;

    public void Record(double microseconds)
    {
        var us = (long)microseconds;
        Interlocked.Increment(ref _counts[Math.Clamp(us, 0, Buckets)]);
        long seen;
        while (us > (seen = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, us, seen) != seen)
        {
        }
    }

    /// <summary>Percentiles (0-100) in µs, in the order asked; 0 when nothing was recorded.</summary>
    public long[] Percentiles(params double[] percentiles)
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Volatile.Read(ref _counts[i]);
        }

        var total = counts.Sum();
        var max = Volatile.Read(ref _max);
        return percentiles.Select(p =>
        {
            if (total == 0)
            {
                return 0L;
            }

            var rank = Math.Clamp((long)Math.Ceiling(p / 100 * total), 1, total);
            long cumulative = 0;
            for (var us = 0; us < counts.Length; us++)
            {
                cumulative += counts[us];
                if (cumulative >= rank)
                {
                    return us == Buckets ? max : us;
                }
            }

            return max;
        }).ToArray();
    }
}
