using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Appliance.Core.Storage;

/// <summary>
/// The index and records of one mapped package, as raw pointers, and the probes a lookup makes in
/// them (layout: <see cref="ShardLayout"/>). A plain value, copied into a view's layer array so a
/// lookup through several layers indexes one array instead of following object references per key.
/// Valid only while the <see cref="MappedShard"/> it came from is mapped.
/// </summary>
internal readonly unsafe struct LayerTable
{
    /// <summary><see cref="Probe"/>: the key is absent (its bucket has an empty slot).</summary>
    public const ulong Miss = ulong.MaxValue;

    /// <summary><see cref="Probe"/>: the bucket is full and holds no match: look further.</summary>
    public const ulong Slow = ulong.MaxValue - 1;

    private readonly ulong* _slots;
    private readonly byte* _records;
    private readonly ulong _bucketCount;
    private readonly ulong _valuesLength;

    public LayerTable(ulong* slots, byte* records, ulong bucketCount, ulong valuesLength)
    {
        _slots = slots;
        _records = records;
        _bucketCount = bucketCount;
        _valuesLength = valuesLength;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong HomeBucket(ulong hash) => KeyHash.Bucket(hash, _bucketCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong* BucketAt(ulong bucket) => _slots + (bucket * ShardLayout.SlotsPerBucket);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* RecordAt(ulong offset) => _records + offset;

    /// <summary>The bucket a full one overflows into (the last wraps to the first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextBucket(ulong bucket) => bucket + 1 == _bucketCount ? 0 : bucket + 1;

    /// <summary>Probes one bucket: the record offset of the first fingerprint match (its record
    /// prefetched), <see cref="Miss"/> if the bucket has an empty slot (the key is absent), else
    /// <see cref="Slow"/> (full bucket, no match: look further).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Probe(ulong bucket, uint fingerprint)
    {
        var slots = BucketAt(bucket);
        var match = MatchBucket(slots, fingerprint, out var empty);
        if (match == 0)
        {
            return empty != 0 ? Miss : Slow;
        }

        var offset = ShardLayout.SlotRecordOffset(slots[BitOperations.TrailingZeroCount(match)]);

        // A record (key, length, value) often straddles two cache lines: fetch both, or copying
        // the value out takes the second miss unhidden.
        Prefetch(_records + offset);
        Prefetch(_records + offset + 64);
        return offset;
    }

    /// <summary>One key walked bucket by bucket from its home, unprefetched: the rare keys a
    /// batched probe left unresolved, and single lookups.</summary>
    public ValueRef FindSlow(ulong key, ulong hash)
    {
        var fingerprint = KeyHash.Fingerprint(hash);
        var bucket = HomeBucket(hash);
        for (ulong probed = 0; probed < _bucketCount; probed++)
        {
            var p = BucketAt(bucket);
            for (var s = 0; s < ShardLayout.SlotsPerBucket; s++)
            {
                var slot = p[s];
                if (slot == 0)
                {
                    return ValueRef.Missing;
                }

                if (ShardLayout.SlotFingerprint(slot) == fingerprint && TryRecord(ShardLayout.SlotRecordOffset(slot), key, out var value))
                {
                    return value;
                }
            }

            bucket = NextBucket(bucket);
        }

        return ValueRef.Missing;
    }

    /// <summary>The record offsets whose slots carry the key's fingerprint, in probe order, up to
    /// the first empty slot: where the key may be, from the index alone (the disk tier reads the
    /// records to confirm). Returns how many were written (at most <paramref name="offsets"/>' length).</summary>
    public int Candidates(ulong hash, Span<ulong> offsets)
    {
        var fingerprint = KeyHash.Fingerprint(hash);
        var bucket = HomeBucket(hash);
        var n = 0;
        for (ulong probed = 0; probed < _bucketCount && n < offsets.Length; probed++)
        {
            var p = BucketAt(bucket);
            var match = MatchBucket(p, fingerprint, out var empty);
            // Matches before the first empty slot only (a key is never stored past one).
            var before = empty == 0 ? match : match & ((1u << BitOperations.TrailingZeroCount(empty)) - 1);
            while (before != 0 && n < offsets.Length)
            {
                offsets[n++] = ShardLayout.SlotRecordOffset(p[BitOperations.TrailingZeroCount(before)]);
                before &= before - 1;
            }

            if (empty != 0)
            {
                break;
            }

            bucket = NextBucket(bucket);
        }

        return n;
    }

    /// <summary>The value of the record at <paramref name="offset"/> if it holds <paramref name="key"/>
    /// (a fingerprint match can be another key) and lies inside the values file.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRecord(ulong offset, ulong key, out ValueRef value)
    {
        value = default;
        if (offset + ShardLayout.RecordHeaderSize > _valuesLength)
        {
            return false;
        }

        var record = _records + offset;
        if (BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(record, 8)) != key)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(record + 8, 4));
        if (offset + ShardLayout.RecordHeaderSize + length > _valuesLength)
        {
            return false;
        }

        value = new ValueRef(record + ShardLayout.RecordHeaderSize, (int)length);
        return true;
    }

    /// <summary>Starts loading <paramref name="address"/>'s cache line into L2 (prefetcht1), not L1.
    /// A chunk prefetches a hundred lines at once; into L1, each holds one of the core's ~12-16 L1
    /// fill buffers until it arrives, so the prefetches queued behind them and perf showed the
    /// lookup stalled at the prefetch instructions. Into L2 they overlap further and the probe that
    /// follows takes an L2 hit: in-process lookups of 100 keys, 1M keys, 40-byte values went from
    /// ~19.5 M to ~33 M keys/s on one core (prefetcht2 measured the same as prefetcht1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(void* address)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch1(address);
        }
    }

    /// <summary>Bit s set in the result: slot s holds <paramref name="fingerprint"/>. Bit s set in
    /// <paramref name="empty"/>: slot s is empty. Two 256-bit compares cover the 8-slot bucket.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint MatchBucket(ulong* bucket, uint fingerprint, out uint empty)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var low = Vector256.Load(bucket);
            var high = Vector256.Load(bucket + 4);
            var tag = Vector256.Create((ulong)fingerprint);
            var match = Vector256.Equals(Vector256.ShiftRightLogical(low, 40), tag).ExtractMostSignificantBits()
                | (Vector256.Equals(Vector256.ShiftRightLogical(high, 40), tag).ExtractMostSignificantBits() << 4);
            empty = Vector256.Equals(low, Vector256<ulong>.Zero).ExtractMostSignificantBits()
                | (Vector256.Equals(high, Vector256<ulong>.Zero).ExtractMostSignificantBits() << 4);
            return match;
        }

        uint m = 0;
        empty = 0;
        for (var s = 0; s < ShardLayout.SlotsPerBucket; s++)
        {
            var slot = bucket[s];
            m |= ShardLayout.SlotFingerprint(slot) == fingerprint ? 1u << s : 0;
            empty |= slot == 0 ? 1u << s : 0;
        }

        return m;
    }
}
