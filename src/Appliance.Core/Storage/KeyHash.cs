using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Appliance.Core.Storage;

/// <summary>
/// The in-shard hash. Keys arrive already partitioned by <c>key % shard_count</c>, so the raw
/// key's low digits are correlated within a shard: every key here has the same remainder. The
/// index must therefore never use the key itself as a slot number (the original's
/// <c>key % prime</c>). MurmurHash3's 64-bit finaliser mixes every input
/// bit into every output bit; the index uses the high bits for the bucket and the low 24 for
/// the fingerprint.
/// Pinned by a golden test: changing it changes the on-disk index.
/// </summary>
internal static class KeyHash
{
    private const ulong C1 = 0xff51afd7ed558ccdUL;
    private const ulong C2 = 0xc4ceb9fe1a85ec53UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong key)
    {
        key ^= key >> 33;
        key *= C1;
        key ^= key >> 33;
        key *= C2;
        key ^= key >> 33;
        return key;
    }

    /// <summary>
    /// Hashes a whole batch, four keys per Vector256 step (one vpmullq per multiply on AVX-512
    /// machines; an emulated 64-bit multiply on plain AVX2).
    /// </summary>
    public static void MixBatch(ReadOnlySpan<ulong> keys, Span<ulong> hashes)
    {
        if (hashes.Length < keys.Length)
        {
            throw new ArgumentException("hashes is shorter than keys", nameof(hashes));
        }

        var i = 0;
        if (Vector256.IsHardwareAccelerated && keys.Length >= Vector256<ulong>.Count)
        {
            var c1 = Vector256.Create(C1);
            var c2 = Vector256.Create(C2);
            for (; i <= keys.Length - Vector256<ulong>.Count; i += Vector256<ulong>.Count)
            {
                var x = Vector256.Create(keys.Slice(i, Vector256<ulong>.Count));
                x ^= Vector256.ShiftRightLogical(x, 33);
                x *= c1;
                x ^= Vector256.ShiftRightLogical(x, 33);
                x *= c2;
                x ^= Vector256.ShiftRightLogical(x, 33);
                x.CopyTo(hashes.Slice(i, Vector256<ulong>.Count));
            }
        }

        for (; i < keys.Length; i++)
        {
            hashes[i] = Mix(keys[i]);
        }
    }

    /// <summary>Bucket for a hash: the high 64 bits of hash × bucketCount (Lemire's range reduction),
    /// so the bucket count need not be a power of two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bucket(ulong hash, ulong bucketCount) => Math.BigMul(hash, bucketCount, out _);

    /// <summary>24-bit fingerprint kept in the slot; never 0, because 0 marks an empty slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Fingerprint(ulong hash)
    {
        var fp = (uint)hash & 0xFFFFFF;
        return fp == 0 ? 1u : fp;
    }
}
