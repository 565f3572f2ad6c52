using System.Runtime.CompilerServices;

namespace Appliance.Core.Storage;

/// <summary>
/// A blocked Bloom filter over the keys of one patch layer (a patch, or a merged layer), kept in
/// memory beside it. A lookup asks it before probing the layer: most keys of a request are not in
/// a patch, and without it every one of them cost a probe of every patch layer (a cache miss each)
/// before reaching the base. The filter answers from one 64-byte block per key: at 10 bits per key
/// a few percent of absent keys are "maybe" (probed, then not found: never a wrong answer), and a
/// patch of 10,000 keys is 12 KiB — in the CPU's cache, so a miss costs nanoseconds, not a memory
/// access.
/// <code>
/// block  = high 32 bits of h, scaled to the block count (h = Mix(key ^ Seed): not the index's hash)
/// bits   = 6 positions of 9 bits each, from h × golden ratio, within the block's 512 bits
/// </code>
/// </summary>
internal sealed class KeyFilter
{
    private const int BitsPerKey = 10;
    private const int Probes = 6;
    private const ulong Seed = 0x9E3779B97F4A7C15UL;
    private readonly ulong[] _words;
    private readonly ulong _blocks;

    private KeyFilter(long keys)
    {
        _blocks = (ulong)Math.Max(1, ((keys * BitsPerKey) + 511) / 512);
        _words = new ulong[_blocks * 8];
    }

    public long Bytes => _words.LongLength * sizeof(ulong);

    public static KeyFilter Of(ReadOnlySpan<ulong> keys)
    {
        var filter = new KeyFilter(keys.Length);
        foreach (var key in keys)
        {
            filter.Add(Hash(key));
        }

        return filter;
    }

    /// <summary>The filter's hash of a key (compute once, ask every layer's filter).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(ulong key) => KeyHash.Mix(key ^ Seed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MayContain(ulong hash)
    {
        var block = (int)(((hash >> 32) * _blocks) >> 32) * 8;
        var bits = hash * 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < Probes; i++)
        {
            var position = (int)(bits >> (i * 9)) & 511;
            if ((_words[block + (position >> 6)] & (1UL << position)) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private void Add(ulong hash)
    {
        var block = (int)(((hash >> 32) * _blocks) >> 32) * 8;
        var bits = hash * 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < Probes; i++)
        {
            var position = (int)(bits >> (i * 9)) & 511;
            _words[block + (position >> 6)] |= 1UL << position;
        }
    }
}
