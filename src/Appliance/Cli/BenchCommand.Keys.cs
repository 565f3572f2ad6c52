using Appliance.Core.Workload;

namespace Appliance.Cli;

internal static partial class BenchCommand
{
    private static void Fill(Span<ulong> keys, Settings s, KeyStream random)
    {
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = s.Draw.Next(random);
        }
    }

    /// <summary>
    /// Which keys a request asks for. The population: a key file (<c>--keys</c>), [0, N)
    /// (<c>--key-range</c>), or the rows of a <c>cube kv gen --key-scheme index</c> table
    /// (<c>--indexed-keys N</c>: every key of a table of any size, no list needed). The draw:
    /// uniform, or Zipf-skewed (<c>--zipf S</c>; rank r is the r-th most frequent, scattered over
    /// the population so hot keys are not neighbours on disk).
    /// </summary>
    private sealed class KeyDraw(ulong[]? pool, long range, long indexed, double zipf)
    {
        private readonly long _count = pool?.LongLength ?? (indexed > 0 ? indexed : range);
        private readonly ZipfSampler? _zipf = zipf > 0 ? new ZipfSampler(pool?.LongLength ?? (indexed > 0 ? indexed : range), zipf) : null;

        public ulong Next(KeyStream random)
        {
            var i = _zipf is null ? (long)random.Below((ulong)_count) : IndexedKeys.Scatter(_zipf.Next(random.Uniform), _count);
            return pool is not null ? pool[i] : indexed > 0 ? IndexedKeys.Of(i) : (ulong)i;
        }

        public override string ToString() =>
            (pool is not null ? $"{pool.Length} keys from --keys" : indexed > 0 ? $"{indexed} indexed keys" : $"keys in [0, {range})")
            + (_zipf is null ? ", uniform" : FormattableString.Invariant($", Zipf s={_zipf.Exponent}"));
    }

    /// <summary>Uniform keys from SplitMix64, reduced with a multiply-high. A seeded
    /// System.Random runs its legacy generator, which cost the open loop's one core 12 %.</summary>
    private sealed class KeyStream
    {
        private ulong _state;

        public KeyStream(ulong seed)
        {
            _state = seed;
            Uniform = () => (Below(1UL << 53) * (1.0 / (1UL << 53)));
        }

        /// <summary>Doubles in [0, 1), for the Zipf sampler (one delegate per stream, not per draw).</summary>
        public Func<double> Uniform { get; }

        public ulong Below(ulong bound)
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return Math.BigMul(z, bound, out _);
        }
    }
}
