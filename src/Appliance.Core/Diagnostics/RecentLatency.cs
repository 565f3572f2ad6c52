using System.Diagnostics;

namespace Appliance.Core.Diagnostics;

/// <summary>
/// A histogram's rate and 99th percentile over roughly the last minute, for <c>/status</c> and
/// <c>cube status</c> (Prometheus computes the same from the cumulative buckets; an operator at a
/// terminal has no Prometheus). Timer-free: every <see cref="Read"/> keeps a snapshot at most
/// every few seconds and compares the histogram now with the oldest snapshot still inside the
/// window (or with the process start while there is none), so a reader that asks rarely gets the
/// figures since its previous read — <see cref="RecentFigures.WindowSeconds"/> says over how long.
/// </summary>
internal sealed class RecentLatency(LatencyHistogram histogram)
{
    private static readonly long Window = Stopwatch.Frequency * 60;
    private static readonly long Step = Stopwatch.Frequency * 5;

    private readonly object _lock = new();
    private readonly Queue<(long At, long[] Counts)> _snapshots = new();
    private readonly long _started = Stopwatch.GetTimestamp();

    public RecentFigures Read()
    {
        var now = Stopwatch.GetTimestamp();
        var (counts, _) = histogram.Snapshot();
        lock (_lock)
        {
            // Drop snapshots older than the window while a newer one can take their place.
            while (_snapshots.Count > 1 && now - _snapshots.ElementAt(1).At >= Window)
            {
                _snapshots.Dequeue();
            }

            var (since, before) = _snapshots.TryPeek(out var oldest) ? oldest : (_started, new long[counts.Length]);
            if (_snapshots.Count == 0 || now - _snapshots.Last().At >= Step)
            {
                _snapshots.Enqueue((now, counts));
            }

            var delta = new long[counts.Length];
            for (var i = 0; i < counts.Length; i++)
            {
                delta[i] = counts[i] - before[i];
            }

            var seconds = Math.Max((now - since) / (double)Stopwatch.Frequency, 1e-3);
            return new RecentFigures(delta.Sum() / seconds, LatencyHistogram.Quantile(histogram.Bounds, delta, 0.99), seconds);
        }
    }
}

/// <summary>Observations per second and their 99th percentile in seconds (null: none) over the last
/// <see cref="WindowSeconds"/>.</summary>
internal readonly record struct RecentFigures(double PerSecond, double? P99Seconds, double WindowSeconds);
