using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>
/// Writes one shard package (index.bin + values.bin, layout in <see cref="ShardLayout"/>) from the
/// shard's records in input order. Duplicate keys: the last occurrence wins. The caller supplies a
/// directory that is not yet visible to readers and renames it when every shard is done.
/// </summary>
internal static class ShardWriter
{
    private const ulong EntryMask = 0xFF_FFFF_FFFFUL;

    /// <summary>Returns the index and values digests and the number of distinct keys.</summary>
    public static unsafe (FileDigest Index, FileDigest Values, long Keys) Write(
        string directory, IReadOnlyList<IRecordSource> buffers, ValueCodec codec, int dimension)
    {
        // Entry numbers: the buffers' key chunks side by side, entry = chunk << ChunkShift | slot.
        // A partial last chunk leaves a few unused numbers; in exchange the keys are read where
        // the parse put them, never copied into one array.
        var chunks = buffers.SelectMany(b => b.KeyChunks).ToArray();
        long total = buffers.Sum(b => b.Count);
        var numbers = (long)chunks.Length << EntryBuffer.ChunkShift;
        if (numbers > Array.MaxLength || (ulong)numbers > EntryMask)
        {
            throw new InvalidOperationException($"a shard holds at most {Array.MaxLength - EntryBuffer.ChunkSize} records; this one got {total}: use more shards");
        }

        var bucketCount = ShardLayout.BucketCountFor(total);
        // The index is probed at random twice (insert, then offsets): huge pages keep those
        // probes free of TLB misses once it outgrows what 4 KiB pages cover (a few MB).
        var slots = new HugePageArray<ulong>((long)bucketCount * ShardLayout.SlotsPerBucket);
        try
        {
            return Write(directory, buffers, codec, dimension, chunks, total, numbers, ref slots, bucketCount);
        }
        finally
        {
            slots.Dispose();
        }
    }

    private static unsafe (FileDigest Index, FileDigest Values, long Keys) Write(
        string directory, IReadOnlyList<IRecordSource> buffers, ValueCodec codec, int dimension,
        ulong[][] chunks, long total, long numbers, ref HugePageArray<ulong> slots, ulong bucketCount)
    {
        // Pass 1: insert entry numbers in input order; a later duplicate replaces the earlier one
        // in the same slot. slotOf[e] remembers where entry e went.
        var slotOf = new int[numbers];
        var chunk = 0;
        long distinct = 0;
        foreach (var buffer in buffers)
        {
            for (var c = 0; c < buffer.KeyChunks.Count; c++, chunk++)
            {
                distinct += Insert(chunks, chunk, buffer.ChunkCount(c), slots.Pointer, slotOf, bucketCount);
            }
        }

        if (ShardLayout.BucketCountFor(distinct) < bucketCount)
        {
            // Many occurrences of the same keys (a merge of patches that rewrite the same rows):
            // an index sized for every occurrence would be mostly empty, on disk and in cache.
            bucketCount = ShardLayout.BucketCountFor(distinct);
            var sized = Rehash(slots, chunks, slotOf, bucketCount);
            slots.Dispose();
            slots = sized;
        }

        // Pass 2: walk the entries in input order (sequential reads of the buffers), write each
        // entry that still owns its slot, and turn the slot's entry number into a record offset.
        Directory.CreateDirectory(directory);
        FileDigest valuesDigest;
        var expected = buffers.Sum(b => b.ValueBytes) + (total * (ShardLayout.RecordHeaderSize + ShardLayout.RecordAlignment));
        using (var values = new HashingFileWriter(Path.Combine(directory, ShardLayout.ValuesFileName), expected))
        {
            ShardLayout.WriteValuesHeader(values.Reserve(ShardLayout.HeaderSize), codec, dimension, distinct);
            WriteWinners(values, buffers, slots.Pointer, slotOf);
            valuesDigest = values.Complete();
        }

        if ((ulong)valuesDigest.Bytes > ShardLayout.MaxValuesBytes)
        {
            throw new InvalidOperationException($"values of one shard exceed {ShardLayout.MaxValuesBytes} bytes; use more shards");
        }

        FileDigest indexDigest;
        using (var index = new HashingFileWriter(Path.Combine(directory, ShardLayout.IndexFileName), slots.Length * sizeof(ulong)))
        {
            ShardLayout.WriteIndexHeader(index.Reserve(ShardLayout.HeaderSize), bucketCount, distinct, valuesDigest.Bytes);
            if (!BitConverter.IsLittleEndian)
            {
                throw new PlatformNotSupportedException("the index is written from memory and must be little-endian");
            }

            const int Chunk = 1 << 20; // slots per write: a span's length is an int
            for (long at = 0; at < slots.Length; at += Chunk)
            {
                index.Write(MemoryMarshal.AsBytes(slots.Slice(at, (int)Math.Min(Chunk, slots.Length - at))));
            }
            indexDigest = index.Complete();
        }

        return (indexDigest, valuesDigest, distinct);
    }

    /// <summary>Inserts the <paramref name="count"/> entries of key chunk <paramref name="chunk"/>;
    /// returns how many were new keys.</summary>
    private static unsafe long Insert(ulong[][] chunks, int chunk, int count, ulong* slotBase, int[] slotOf, ulong bucketCount)
    {
        const int Ahead = 16;
        long distinct = 0;
        var keys = chunks[chunk];
        var first = (long)chunk << EntryBuffer.ChunkShift;
        Span<ulong> hashes = stackalloc ulong[Ahead];
        for (var start = 0; start < count; start += Ahead)
        {
            var n = Math.Min(Ahead, count - start);
            KeyHash.MixBatch(keys.AsSpan(start, n), hashes);
            if (Sse.IsSupported)
            {
                // The table is far larger than cache: start the misses for 16 keys at once.
                for (var i = 0; i < n; i++)
                {
                    Sse.Prefetch0(slotBase + KeyHash.Bucket(hashes[i], bucketCount) * ShardLayout.SlotsPerBucket);
                }
            }

            for (var i = 0; i < n; i++)
            {
                var entry = first + start + i;
                var key = keys[start + i];
                var hash = hashes[i];
                var tag = (ulong)KeyHash.Fingerprint(hash) << 40;
                var bucket = KeyHash.Bucket(hash, bucketCount);
                while (true)
                {
                    var p = slotBase + bucket * ShardLayout.SlotsPerBucket;
                    var placed = false;
                    for (var s = 0; s < ShardLayout.SlotsPerBucket; s++)
                    {
                        var slot = p[s];
                        if (slot == 0 || ((slot & ~EntryMask) == tag && KeyOf(chunks, (long)(slot & EntryMask)) == key))
                        {
                            distinct += slot == 0 ? 1 : 0;
                            p[s] = tag | (ulong)entry;
                            slotOf[entry] = (int)((bucket * ShardLayout.SlotsPerBucket) + (ulong)s);
                            placed = true;
                            break;
                        }
                    }

                    if (placed)
                    {
                        break;
                    }

                    bucket = bucket + 1 == bucketCount ? 0 : bucket + 1;
                }
            }
        }

        return distinct;
    }

    /// <summary>The index's entries moved to a table of <paramref name="bucketCount"/> buckets
    /// (each key once, so each goes to the first free slot from its home bucket); the winners'
    /// <paramref name="slotOf"/> follow them, every other entry's becomes -1. A stale position
    /// would be wrong: by the time its entry is written, its slot may hold a record offset that
    /// happens to equal the entry's number.</summary>
    private static unsafe HugePageArray<ulong> Rehash(HugePageArray<ulong> from, ulong[][] chunks, int[] slotOf, ulong bucketCount)
    {
        var to = new HugePageArray<ulong>((long)bucketCount * ShardLayout.SlotsPerBucket);
        Array.Fill(slotOf, -1);
        for (long at = 0; at < from.Length; at++)
        {
            var slot = from.Pointer[at];
            if (slot == 0)
            {
                continue;
            }

            var entry = (long)(slot & EntryMask);
            var bucket = KeyHash.Bucket(KeyHash.Mix(KeyOf(chunks, entry)), bucketCount);
            while (true)
            {
                var p = to.Pointer + (bucket * ShardLayout.SlotsPerBucket);
                var s = 0;
                while (s < ShardLayout.SlotsPerBucket && p[s] != 0)
                {
                    s++;
                }

                if (s < ShardLayout.SlotsPerBucket)
                {
                    p[s] = slot;
                    slotOf[entry] = (int)((bucket * ShardLayout.SlotsPerBucket) + (ulong)s);
                    break;
                }

                bucket = bucket + 1 == bucketCount ? 0 : bucket + 1;
            }
        }

        return to;
    }

    private static ulong KeyOf(ulong[][] chunks, long entry) =>
        chunks[entry >> EntryBuffer.ChunkShift][entry & (EntryBuffer.ChunkSize - 1)];

    private static unsafe void WriteWinners(HashingFileWriter values, IReadOnlyList<IRecordSource> buffers, ulong* slotBase, int[] slotOf)
    {
        const int Ahead = 16;
        long chunk = 0;
        foreach (var buffer in buffers)
        {
            var cursor = buffer.Values();
            for (var c = 0; c < buffer.KeyChunks.Count; c++, chunk++)
            {
                var keys = buffer.KeyChunks[c];
                var count = buffer.ChunkCount(c);
                var first = chunk << EntryBuffer.ChunkShift;
                for (var i = 0; i < count; i++)
                {
                    var entry = first + i;
                    if (Sse.IsSupported && i + Ahead < count && slotOf[entry + Ahead] >= 0)
                    {
                        Sse.Prefetch0(slotBase + slotOf[entry + Ahead]);
                    }

                    var value = cursor.Next();
                    var position = slotOf[entry];
                    var slot = position >= 0 ? slotBase[position] : 0;
                    if (slot == 0 || (long)(slot & EntryMask) != entry)
                    {
                        continue; // a later occurrence of this key owns the slot
                    }

                    var offset = values.Position;
                    WriteRecord(values, keys[i], value);
                    slotBase[position] = ShardLayout.MakeSlot(ShardLayout.SlotFingerprint(slot), (ulong)offset);
                }
            }
        }
    }

    private static void WriteRecord(HashingFileWriter values, ulong key, ReadOnlySpan<byte> value)
    {
        var size = ShardLayout.RecordSize(value.Length);
        if (size <= 1 << 16)
        {
            var record = values.Reserve(size);
            BinaryPrimitives.WriteUInt64LittleEndian(record, key);
            BinaryPrimitives.WriteInt32LittleEndian(record[8..], value.Length);
            value.CopyTo(record[ShardLayout.RecordHeaderSize..]);
            record[(ShardLayout.RecordHeaderSize + value.Length)..].Clear();
            return;
        }

        Span<byte> header = stackalloc byte[ShardLayout.RecordHeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header, key);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], value.Length);
        values.Write(header);
        values.Write(value);
        Span<byte> pad = stackalloc byte[ShardLayout.RecordAlignment];
        pad.Clear();
        values.Write(pad[..(size - ShardLayout.RecordHeaderSize - value.Length)]);
    }
}
