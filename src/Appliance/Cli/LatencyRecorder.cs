namespace Appliance.Cli;

/// <summary>Collects per-request latencies (µs) for exact percentiles at the end of a run.
/// Bounded: past <see cref="MaxSamples"/> it keeps every other sample.</summary>
internal sealed class LatencyRecorder
{
    private const int MaxSamples = 20_000_000;

    private readonly object _lock = new();
    private long[] _samples;
    private int _count;
    private int _stride = 1;
    private long _seen;

    /// <summary>Sized up front: growing the array mid-run allocates on the large-object heap and
    /// copies it, and the collections that follow stall the run being measured.</summary>
    public LatencyRecorder(int expected = 1 << 16)
    {
        _samples = new long[Math.Clamp(expected, 1 << 10, MaxSamples)];
    }

    public void Record(double microseconds)
    {
        lock (_lock)
        {
            if (_seen++ % _stride != 0)
            {
                return;
            }

            if (_count == _samples.Length)
            {
                if (_samples.Length >= MaxSamples)
                {
                    // Halve: keep every other sample, then sample every other request from now on.
                    for (var i = 0; i < _count / 2; i++)
                    {
                        _samples[i] = _samples[i * 2];
                    }

                    _count /= 2;
                    _stride *= 2;
                }
                else
                {
                    Array.Resize(ref _samples, _samples.Length * 2);
                }
            }

            _samples[_count++] = (long)microseconds;
        }
    }

    /// <summary>Percentiles (0-100) in µs, in the order asked; 0 when nothing was recorded.</summary>
    public long[] Percentiles(params double[] percentiles)
    {
        lock (_lock)
        {
            var sorted = _samples.AsSpan(0, _count).ToArray();
            Array.Sort(sorted);
            return percentiles.Select(p => sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)]).ToArray();
        }
    }
}
