using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

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
    public static (FileDigest Index, FileDigest Values, long Keys) Write(
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
        var slots = new ulong[bucketCount * ShardLayout.SlotsPerBucket];
        var keys = new ulong[total];
        for (var b = 0; b < buffers.Count; b++)
        {
            buffers[b].Keys.CopyTo(keys.AsSpan((int)starts[b]));
        }

        // Pass 1: insert entry numbers in input order; a later duplicate replaces the earlier one.
        var distinct = Insert(keys, slots, bucketCount);

        // Pass 2: write the winning records in bucket order and turn entry numbers into offsets.
        Directory.CreateDirectory(directory);
        FileDigest valuesDigest;
        using (var values = new HashingFileWriter(Path.Combine(directory, ShardLayout.ValuesFileName)))
        {
            ShardLayout.WriteValuesHeader(values.Reserve(ShardLayout.HeaderSize), codec, dimension, distinct);
            var buffer = 0;
            for (var s = 0; s < slots.Length; s++)
            {
                var slot = slots[s];
                if (slot == 0)
                {
                    continue;
                }

                var entry = (long)(slot & EntryMask);
                buffer = Locate(starts, entry, buffer);
                var local = (int)(entry - starts[buffer]);
                var value = buffers[buffer].Value(local);
                var offset = values.Position;
                WriteRecord(values, keys[entry], value);
                slots[s] = ShardLayout.MakeSlot(ShardLayout.SlotFingerprint(slot), (ulong)offset);
            }

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

            index.Write(MemoryMarshal.AsBytes(slots.AsSpan()));
            indexDigest = index.Complete();
        }

        return (indexDigest, valuesDigest, distinct);
    }

    private static unsafe long Insert(ulong[] keys, ulong[] slots, ulong bucketCount)
    {
        const int Ahead = 16;
        long distinct = 0;
        Span<ulong> hashes = stackalloc ulong[Ahead];
        fixed (ulong* slotBase = slots)
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
                            if (slot == 0)
                            {
                                p[s] = tag | (ulong)entry;
                                distinct++;
                                placed = true;
                                break;
                            }

                            if ((slot & ~EntryMask) == tag && keys[(long)(slot & EntryMask)] == key)
                            {
                                p[s] = tag | (ulong)entry;
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

    private static int Locate(long[] starts, long entry, int hint)
    {
        if (entry >= starts[hint] && entry < starts[hint + 1])
        {
            return hint;
        }

        var i = Array.BinarySearch(starts, 0, starts.Length - 1, entry);
        if (i < 0)
        {
            i = ~i - 1;
        }

        // Skip empty buffers that share the same start.
        while (starts[i + 1] <= entry)
        {
            i++;
        }

        return i;
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
