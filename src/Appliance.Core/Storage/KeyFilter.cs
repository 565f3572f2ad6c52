using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Appliance.Core.Storage;

/// <summary>
/// A register-blocked Bloom filter over the keys of one patch layer (a patch, or a merged layer),
/// kept in memory beside it. A lookup asks it before probing the layer: most keys of a request are
/// not in a patch, and without it every one of them cost a probe of every patch layer (a cache
/// miss each) before reaching the base. All of a key's bits sit in one 64-bit word, so a question
/// is one load and one compare, without branches: at 20 bits per key about 0.2 % of absent keys
/// are "maybe" (probed, then not found: never a wrong answer), and a patch of 10,000 keys is
/// 25 KiB, in the CPU's cache. A "maybe" costs a probe that no prefetch hides well; at 12 bits
/// (1 %) one patch layer cost 13 % of the base's rate, at 20 bits 4-9 % (bench lookup --data).
/// <code>
/// h     = Mix(key)                        (the index's hash)
/// word  = high 32 bits of h, scaled to the word count
/// mask  = 5 bits: bit (h >> 6i) &amp; 63 for i = 0..4
/// maybe = (word &amp; mask) == mask
/// </code>
/// </summary>
internal sealed unsafe class KeyFilter
{
    private const int BitsPerKey = 20;
    private readonly ulong[] _words;
    private readonly ulong _count;

    private KeyFilter(long keys)
    {
        _count = (ulong)Math.Max(1, ((keys * BitsPerKey) + 63) / 64);
        _words = new ulong[_count];
    }

    public long Bytes => _words.LongLength * sizeof(ulong);

    public static KeyFilter Of(ReadOnlySpan<ulong> keys)
    {
        var filter = new KeyFilter(keys.Length);
        foreach (var key in keys)
        {
            var hash = Hash(key);
            filter._words[filter.Word(hash)] |= Mask(hash);
        }

        return filter;
    }

    /// <summary>The filter's hash of a key: the index's own (<see cref="KeyHash.Mix"/>), so a batch
    /// is hashed once, vectorized (<see cref="KeyHash.MixBatch"/>), for every layer's filter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(ulong key) => KeyHash.Mix(key);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MayContain(ulong hash)
    {
        var mask = Mask(hash);
        return (_words[Word(hash)] & mask) == mask;
    }

    /// <summary>Sets <paramref name="layerOf"/>[i] to <paramref name="layer"/> for every hash the
    /// filter may hold. Four keys at a time with AVX2 (the five bit positions shifted in one
    /// vector, the four words gathered in one instruction): a lookup asks every patch layer's
    /// filter about every key, and asked one key at a time the filter cost more than the probe
    /// it saves (one 10,000-key patch: 14 % of the base's rate).</summary>
    public void Mark(ReadOnlySpan<ulong> hashes, Span<int> layerOf, int layer)
    {
        var i = 0;
        if (Avx2.IsSupported && hashes.Length >= 4)
        {
            var one = Vector256.Create(1UL);
            var low6 = Vector256.Create(63UL);
            var count = Vector256.Create(_count).AsUInt32();
            fixed (ulong* words = _words)
            fixed (ulong* h = hashes)
            {
                for (; i + 4 <= hashes.Length; i += 4)
                {
                    var x = Avx.LoadVector256(h + i);
                    var mask = Avx2.ShiftLeftLogicalVariable(one, x & low6)
                        | Avx2.ShiftLeftLogicalVariable(one, Avx2.ShiftRightLogical(x, 6) & low6)
                        | Avx2.ShiftLeftLogicalVariable(one, Avx2.ShiftRightLogical(x, 12) & low6)
                        | Avx2.ShiftLeftLogicalVariable(one, Avx2.ShiftRightLogical(x, 18) & low6)
                        | Avx2.ShiftLeftLogicalVariable(one, Avx2.ShiftRightLogical(x, 24) & low6);
                    // Word: ((hash >> 32) × count) >> 32, as Word(); vpmuludq multiplies the low
                    // 32 bits of each lane.
                    var word = Avx2.ShiftRightLogical(Avx2.Multiply(Avx2.ShiftRightLogical(x, 32).AsUInt32(), count), 32);
                    var gathered = Avx2.GatherVector256(words, word.AsInt64(), 8);
                    var hit = Vector256.Equals(gathered & mask, mask).ExtractMostSignificantBits();
                    while (hit != 0)
                    {
                        layerOf[i + BitOperations.TrailingZeroCount(hit)] = layer;
                        hit &= hit - 1;
                    }
                }
            }
        }

        for (; i < hashes.Length; i++)
        {
            if (MayContain(hashes[i]))
            {
                layerOf[i] = layer;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Word(ulong hash) => (int)(((hash >> 32) * _count) >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mask(ulong hash) =>
        (1UL << (int)(hash & 63)) | (1UL << (int)((hash >> 6) & 63)) | (1UL << (int)((hash >> 12) & 63))
        | (1UL << (int)((hash >> 18) & 63)) | (1UL << (int)((hash >> 24) & 63));
}
