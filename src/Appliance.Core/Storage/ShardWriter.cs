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
        string directory, IReadOnlyList<EntryBuffer> buffers, ValueCodec codec, int dimension)
    {
        long total = 0;
        var starts = new long[buffers.Count + 1];
        for (var b = 0; b < buffers.Count; b++)
        {
            starts[b] = total;
            total += buffers[b].Count;
        }

        starts[^1] = total;
        if (total > (long)EntryMask)
        {
            throw new InvalidOperationException($"a shard holds at most {EntryMask} records; this one got {total}");
        }

        var bucketCount = ShardLayout.BucketCountFor(total);
        // The index is probed at random twice (insert, then offsets): huge pages keep those
        // probes free of TLB misses once it outgrows what 4 KiB pages cover (a few MB).
        using var slots = new HugePageArray<ulong>((long)bucketCount * ShardLayout.SlotsPerBucket);
        var keys = new ulong[total];
        for (var b = 0; b < buffers.Count; b++)
        {
            buffers[b].Keys.CopyTo(keys.AsSpan((int)starts[b]));
        }

        // Pass 1: insert entry numbers in input order; a later duplicate replaces the earlier one
        // in the same slot. slotOf[e] remembers where entry e went.
        var slotOf = new int[total];
        var distinct = Insert(keys, slots.Pointer, slotOf, bucketCount);

        // Pass 2: walk the entries in input order (sequential reads of the buffers), write each
        // entry that still owns its slot, and turn the slot's entry number into a record offset.
        Directory.CreateDirectory(directory);
        FileDigest valuesDigest;
        using (var values = new HashingFileWriter(Path.Combine(directory, ShardLayout.ValuesFileName)))
        {
            ShardLayout.WriteValuesHeader(values.Reserve(ShardLayout.HeaderSize), codec, dimension, distinct);
            WriteWinners(values, buffers, starts, slots.Pointer, slotOf);
            valuesDigest = values.Complete();
        }

        if ((ulong)valuesDigest.Bytes > ShardLayout.MaxValuesBytes)
        {
            throw new InvalidOperationException($"values of one shard exceed {ShardLayout.MaxValuesBytes} bytes; use more shards");
        }

        FileDigest indexDigest;
        using (var index = new HashingFileWriter(Path.Combine(directory, ShardLayout.IndexFileName)))
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

    private static unsafe long Insert(ulong[] keys, ulong* slotBase, int[] slotOf, ulong bucketCount)
    {
        const int Ahead = 16;
        long distinct = 0;
        Span<ulong> hashes = stackalloc ulong[Ahead];
        {
            for (long start = 0; start < keys.LongLength; start += Ahead)
            {
                var n = (int)Math.Min(Ahead, keys.LongLength - start);
                KeyHash.MixBatch(keys.AsSpan((int)start, n), hashes);
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
                    var entry = start + i;
                    var key = keys[entry];
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
                            if (slot == 0 || ((slot & ~EntryMask) == tag && keys[(long)(slot & EntryMask)] == key))
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
        }

        return distinct;
    }

    private static unsafe void WriteWinners(HashingFileWriter values, IReadOnlyList<EntryBuffer> buffers, long[] starts, ulong* slotBase, int[] slotOf)
    {
        const int Ahead = 16;
        {
            for (var b = 0; b < buffers.Count; b++)
            {
                var buffer = buffers[b];
                var first = starts[b];
                for (var i = 0; i < buffer.Count; i++)
                {
                    var entry = first + i;
                    if (Sse.IsSupported && i + Ahead < buffer.Count)
                    {
                        Sse.Prefetch0(slotBase + slotOf[entry + Ahead]);
                    }

                    var position = slotOf[entry];
                    var slot = slotBase[position];
                    if ((long)(slot & EntryMask) != entry)
                    {
                        continue; // a later occurrence of this key owns the slot
                    }

                    var offset = values.Position;
                    WriteRecord(values, buffer.Key(i), buffer.Value(i));
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
