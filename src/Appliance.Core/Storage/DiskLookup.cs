using System.Buffers.Binary;
using System.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>
/// The batched lookup of a disk-tier view: the index (in memory) says which layer and record may
/// hold each key — a key absent from the index costs no I/O — then the row cache answers the hot
/// rows, and every other record of the batch is read in one round of device reads, all in flight
/// together (<see cref="BlockReaders"/>): one read per missed key. A read that fails or comes back
/// short fails its key (<see cref="ValueRef.Failed"/>), never a value from the wrong place.
/// <para>The record's own key confirms the index's 24-bit fingerprint, as in memory; a record of
/// another key (about one lookup in a million) sends that key down the slow path: every candidate
/// of every layer read one by one.</para>
/// </summary>
internal static unsafe class DiskLookup
{
    /// <summary>Reads in one round (a larger batch goes in rounds of this many).</summary>
    private const int Round = 256;

    /// <summary>Keys resolved together: their index buckets, then their cache sets, prefetched as
    /// a group before any is read, so the misses of a chunk overlap (as in <see cref="LayeredLookup"/>).</summary>
    private const int Chunk = 32;

    /// <summary>Candidates the slow path reads for one key before it gives up (reports missing).</summary>
    private const int MaxCandidates = 16;

    /// <summary>Looks up a batch; returns how many keys failed. Values live in
    /// <paramref name="arena"/> (reset here) until its next use.</summary>
    public static int Lookup(
        ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, DiskTier tier,
        ReadOnlySpan<ulong> keys, Span<ValueRef> results, ValueArena arena)
    {
        arena.Reset();
        var batch = new Batch(tables, filters, files, tier, keys, results, arena)
        {
            PendingIndex = stackalloc int[Round],
            PendingLayer = stackalloc int[Round],
            PendingOffset = stackalloc ulong[Round],
            Reads = stackalloc BlockRead[Round],
            Done = stackalloc int[Round],
            Windows = stackalloc long[Round],
        };
        var cache = tier.Cache;
        var rowBytes = cache?.RowBytes ?? 0;
        Span<int> layers = stackalloc int[Chunk];
        Span<ulong> offsets = stackalloc ulong[Chunk];
        for (var start = 0; start < keys.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, keys.Length - start);
            Resolve(tables, filters, files, cache, keys.Slice(start, n), layers, offsets);
            for (var j = 0; j < n; j++)
            {
                var i = start + j;
                var key = keys[i];
                var (layer, offset) = (layers[j], offsets[j]);
                if (layer < 0)
                {
                    results[i] = ValueRef.Missing;
                    continue;
                }

                if (cache is not null)
                {
                    var into = arena.Allocate(rowBytes);
                    if (cache.TryGet(files[layer].TagOf(offset), key, new Span<byte>(into, rowBytes), out var length))
                    {
                        results[i] = new ValueRef(into, length);
                        batch.Hits++;
                        batch.Found++;
                        continue;
                    }
                }

                batch.Add(i, layer, offset);
                if (batch.Pending == Round)
                {
                    batch.ReadRound();
                }
            }
        }

        batch.ReadRound();
        tier.Count(batch.Found, batch.Hits, batch.DeviceReads, batch.Bytes, batch.Failed, batch.Admitted);
        return batch.Failed;
    }

    /// <summary>The batch answered from the index and the cache alone, without waiting: false at
    /// the first key the cache does not hold (the caller then does the full lookup, elsewhere).
    /// Requests are counted in the cache's frequency sketch only when it succeeds, so a key is
    /// never counted twice for one request.</summary>
    public static bool TryCached(
        ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, DiskTier tier,
        ReadOnlySpan<ulong> keys, Span<ValueRef> results, ValueArena arena)
    {
        if (tier.Cache is not { } cache)
        {
            return false;
        }

        arena.Reset();
        var tags = (ulong*)arena.Allocate(keys.Length * sizeof(ulong));
        Span<int> layers = stackalloc int[Chunk];
        Span<ulong> offsets = stackalloc ulong[Chunk];
        var hits = 0;
        for (var start = 0; start < keys.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, keys.Length - start);
            Resolve(tables, filters, files, cache, keys.Slice(start, n), layers, offsets);
            for (var j = 0; j < n; j++)
            {
                var i = start + j;
                if (layers[j] < 0)
                {
                    results[i] = ValueRef.Missing;
                    tags[i] = 0;
                    continue;
                }

                var into = arena.Allocate(cache.RowBytes);
                tags[i] = files[layers[j]].TagOf(offsets[j]);
                if (!cache.TryGet(tags[i], keys[i], new Span<byte>(into, cache.RowBytes), out var length, record: false))
                {
                    return false;
                }

                results[i] = new ValueRef(into, length);
                hits++;
            }
        }

        for (var i = 0; i < keys.Length; i++)
        {
            if (tags[i] != 0)
            {
                cache.Record(tags[i]);
            }
        }

        tier.Count(hits, hits, 0, 0, 0, 0);
        return true;
    }

    /// <summary>One lookup's state: the keys waiting for a read, and the counts.</summary>
    private ref struct Batch(
        ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, DiskTier tier,
        ReadOnlySpan<ulong> keys, Span<ValueRef> results, ValueArena arena)
    {
        private readonly ReadOnlySpan<LayerTable> _tables = tables;
        private readonly ReadOnlySpan<KeyFilter?> _filters = filters;
        private readonly ReadOnlySpan<DiskValues> _files = files;
        private readonly ReadOnlySpan<ulong> _keys = keys;
        private readonly Span<ValueRef> _results = results;

        public Span<int> PendingIndex;
        public Span<int> PendingLayer;
        public Span<ulong> PendingOffset;
        public Span<BlockRead> Reads;
        public Span<int> Done;
        public Span<long> Windows;
        public int Pending;
        public int Hits;
        public int Found;
        public int DeviceReads;
        public int Failed;
        public int Admitted;
        public long Bytes;

        public void Add(int index, int layer, ulong offset)
        {
            PendingIndex[Pending] = index;
            PendingLayer[Pending] = layer;
            PendingOffset[Pending] = offset;
            Pending++;
        }

        /// <summary>Reads every pending record in one round, all in flight together, and answers
        /// their keys. Each read has its own window of the arena's aligned buffer.</summary>
        public void ReadRound()
        {
            var n = Pending;
            Pending = 0;
            if (n == 0)
            {
                return;
            }

            long total = 0;
            for (var r = 0; r < n; r++)
            {
                Windows[r] = total;
                total += _files[PendingLayer[r]].WindowOf(PendingOffset[r]).Length;
            }

            var buffer = arena.ReadBuffer(total);
            for (var r = 0; r < n; r++)
            {
                var file = _files[PendingLayer[r]];
                var (start, length) = file.WindowOf(PendingOffset[r]);
                Reads[r] = new BlockRead(file.Fd, start, buffer + Windows[r], length);
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                tier.Readers.ReadAll(Reads[..n], Done[..n]);
            }
            catch (IOException)
            {
                Done[..n].Fill(-5); // the ring itself failed: every read of the round fails (EIO)
            }

            tier.ReadLatency.Observe(Stopwatch.GetElapsedTime(started));
            DeviceReads += n;
            var cache = tier.Cache;
            for (var r = 0; r < n; r++)
            {
                var i = PendingIndex[r];
                var file = _files[PendingLayer[r]];
                var at = (long)PendingOffset[r] - Reads[r].Offset;
                Bytes += Math.Max(0, Done[r]);
                var outcome = Parse(Reads[r].Buffer, Done[r], at, _keys[i], out var value, out var recordBytes);
                if (file.RecordBytes > 0 && outcome is Outcome.Found or Outcome.Longer && recordBytes != file.RecordBytes)
                {
                    outcome = Outcome.Failed; // a row of another length than the codec's: damaged, never served
                }

                switch (outcome)
                {
                    case Outcome.Found:
                        _results[i] = Keep(value, arena);
                        if (cache is not null && cache.Offer(file.TagOf(PendingOffset[r]), _keys[i], value))
                        {
                            Admitted++;
                        }

                        break;
                    case Outcome.Longer:
                        // A raw value longer than its first window: read the whole record.
                        DeviceReads++;
                        _results[i] = ReadWhole(file, PendingOffset[r], _keys[i], recordBytes, arena, ref Bytes);
                        break;
                    case Outcome.OtherKey:
                        _results[i] = Slow(_tables, _filters, _files, _keys[i], arena, ref DeviceReads, ref Bytes);
                        break;
                    default:
                        _results[i] = ValueRef.Failed;
                        break;
                }

                Found += _results[i].Found ? 1 : 0;
                Failed += _results[i].IsFailed ? 1 : 0;
            }
        }
    }

    /// <summary>A copy of <paramref name="value"/> in the arena, as the key's answer.</summary>
    private static ValueRef Keep(ReadOnlySpan<byte> value, ValueArena arena)
    {
        var into = arena.Allocate(value.Length);
        value.CopyTo(new Span<byte>(into, value.Length));
        return new ValueRef(into, value.Length);
    }

    private enum Outcome
    {
        Found,
        OtherKey,
        Longer,
        Failed,
    }

    /// <summary>Where each key of a chunk may be (layer −1: in no layer's index), with the chunk's
    /// memory misses overlapped: every key's bucket in the base is prefetched before any is
    /// walked, then every candidate's cache set and frequency counters before any is probed.
    /// Measured with everything cached (perf: the cache probe, the sketch and the index walk were
    /// 51 % of the server's time, each key's misses one after another).</summary>
    private static void Resolve(
        ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, RowCache? cache,
        ReadOnlySpan<ulong> keys, Span<int> layers, Span<ulong> offsets)
    {
        Span<ulong> hashes = stackalloc ulong[Chunk];
        Span<ulong> one = stackalloc ulong[1];
        KeyHash.MixBatch(keys, hashes);
        ref readonly var bottom = ref tables[0];
        for (var j = 0; j < keys.Length; j++)
        {
            LayerTable.Prefetch(bottom.BucketAt(bottom.HomeBucket(hashes[j])));
        }

        for (var j = 0; j < keys.Length; j++)
        {
            layers[j] = LayerOf(tables, filters, hashes[j], one, out offsets[j]);
            if (layers[j] >= 0)
            {
                cache?.Prefetch(files[layers[j]].TagOf(offsets[j]));
            }
        }
    }

    /// <summary>The cache tag a lookup of <paramref name="key"/> in these layers would read under
    /// (its first candidate record), or 0 when no layer's index may hold it.</summary>
    public static ulong TagOf(ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, ulong key)
    {
        Span<ulong> one = stackalloc ulong[1];
        var layer = LayerOf(tables, filters, KeyHash.Mix(key), one, out var offset);
        return layer < 0 ? 0 : files[layer].TagOf(offset);
    }

    /// <summary>The newest layer whose index may hold the key and the record offset there, or −1
    /// when no layer does (missing: no I/O).</summary>
    private static int LayerOf(ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ulong hash, Span<ulong> one, out ulong offset)
    {
        for (var layer = tables.Length - 1; layer >= 0; layer--)
        {
            if (layer > 0 && filters[layer] is { } filter && !filter.MayContain(hash))
            {
                continue;
            }

            if (tables[layer].Candidates(hash, one) == 1)
            {
                offset = one[0];
                return layer;
            }
        }

        offset = 0;
        return -1;
    }

    /// <summary>The record at <paramref name="at"/> of a window of which <paramref name="read"/>
    /// bytes arrived (or −errno).</summary>
    private static Outcome Parse(byte* window, int read, long at, ulong key, out ReadOnlySpan<byte> value, out int recordBytes)
    {
        value = default;
        recordBytes = 0;
        if (read < 0 || at + ShardLayout.RecordHeaderSize > read)
        {
            return Outcome.Failed;
        }

        var record = window + at;
        if (BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(record, 8)) != key)
        {
            return Outcome.OtherKey;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(record + 8, 4));
        if (length > int.MaxValue - ShardLayout.RecordHeaderSize)
        {
            return Outcome.Failed;
        }

        recordBytes = ShardLayout.RecordHeaderSize + (int)length;
        if (at + recordBytes > read)
        {
            // Short read (a file truncated under us) or a raw value past the window: the caller
            // tells them apart by whether the window was read whole.
            return read == 0 || read % DiskValues.Block != 0 ? Outcome.Failed : Outcome.Longer;
        }

        value = new ReadOnlySpan<byte>(record + ShardLayout.RecordHeaderSize, (int)length);
        return Outcome.Found;
    }

    /// <summary>One record read alone, whole (a raw value longer than its first window).</summary>
    private static ValueRef ReadWhole(DiskValues file, ulong offset, ulong key, int recordBytes, ValueArena arena, ref long bytes)
    {
        var start = (long)offset & ~(long)(DiskValues.Block - 1);
        var end = ((long)offset + recordBytes + DiskValues.Block - 1) & ~(long)(DiskValues.Block - 1);
        if (end > file.Length + DiskValues.Block || end - start > int.MaxValue)
        {
            return ValueRef.Failed; // a length no file this size can hold
        }

        var buffer = arena.ReadBuffer(end - start, side: true);
        var n = LibC.PRead(file.Fd, buffer, (nuint)(end - start), start);
        bytes += Math.Max(0, n);
        var outcome = Parse(buffer, n < 0 ? -1 : (int)Math.Min(n, int.MaxValue), (long)offset - start, key, out var value, out _);
        if (outcome != Outcome.Found)
        {
            return ValueRef.Failed;
        }

        return Keep(value, arena);
    }

    /// <summary>A key whose first candidate record held another key (a fingerprint shared, or a
    /// damaged index): every candidate of every layer that may hold it, newest first, read one at
    /// a time until the record with its key.</summary>
    private static ValueRef Slow(
        ReadOnlySpan<LayerTable> tables, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<DiskValues> files, ulong key,
        ValueArena arena, ref int deviceReads, ref long bytes)
    {
        var hash = KeyHash.Mix(key);
        Span<ulong> candidates = stackalloc ulong[MaxCandidates];
        for (var layer = tables.Length - 1; layer >= 0; layer--)
        {
            if (layer > 0 && filters[layer] is { } filter && !filter.MayContain(hash))
            {
                continue;
            }

            var n = tables[layer].Candidates(hash, candidates);
            for (var c = 0; c < n; c++)
            {
                var file = files[layer];
                var (start, length) = file.WindowOf(candidates[c]);
                var buffer = arena.ReadBuffer(length, side: true);
                var read = LibC.PRead(file.Fd, buffer, (nuint)length, start);
                deviceReads++;
                bytes += Math.Max(0, read);
                var outcome = Parse(buffer, read < 0 ? -1 : (int)read, (long)candidates[c] - start, key, out var value, out var recordBytes);
                switch (outcome)
                {
                    case Outcome.Found:
                        return Keep(value, arena);
                    case Outcome.Longer:
                        deviceReads++;
                        return ReadWhole(file, candidates[c], key, recordBytes, arena, ref bytes);
                    case Outcome.Failed:
                        return ValueRef.Failed;
                }
            }
        }

        return ValueRef.Missing;
    }
}
