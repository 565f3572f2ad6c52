using System.Runtime.CompilerServices;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>
/// The batched lookup of every read, through one layer (a base alone) or several (a base, a merged
/// patch layer, the patches not merged yet). One pipeline whatever the number of layers: a chunk of
/// keys is hashed once; each key is sent to the newest layer whose filter may hold it (the base when
/// none does); every key's bucket in its layer is prefetched, then probed, then every record
/// prefetched, then confirmed. The cache misses of a chunk overlap across layers, so a key costs
/// one probe of the layer that has it plus a filter check in cache, and a view with patch layers
/// reads nearly as fast as its base alone.
/// <para>A key a filter wrongly let through (about 1 % of absent keys per filter) is not found in
/// that layer and is probed again, with the others of its chunk, in the next older layer that may
/// hold it.</para>
/// </summary>
internal static unsafe class LayeredLookup
{
    /// <summary>Keys resolved together: all their buckets prefetched, then probed, then all their
    /// records prefetched. 128 makes a 100-key request one chunk, so its misses all overlap
    /// (measured in process at batch 100: chunk 32 ~27 M, 64 ~33 M, 128 ~35 M keys/s per core).</summary>
    private const int Chunk = 128;

    /// <summary>Buckets after a key's home probed in prefetched rounds before FindSlow walks on.</summary>
    private const int OverflowRounds = 4;

    /// <summary>Faults per chunk (the lookup thread's average over sampled chunks, faults inside the
    /// lookup only: <see cref="ThreadFaults"/>) from which a chunk's pages are read ahead. Reading ahead costs
    /// two madvise calls per key, ~2 µs each with most pages resident (bench/larger-than-memory.sh:
    /// server CPU per request 262 → 695 µs at 90 % of the package in memory, where 1.4 faults per
    /// chunk are waited for one by one); at 50 % (7 faults per chunk) it doubled throughput. Those
    /// were chunks of 64 keys and a threshold of 3; chunks of 128 hold twice the faults at the same
    /// share in memory, so the threshold doubled with them.</summary>
    internal const int ReadAheadFaultsPerChunk = 6;

    /// <summary>Looks up a batch: <paramref name="results"/>[i] answers <paramref name="keys"/>[i]
    /// with the value of the newest layer holding it. <paramref name="filters"/>[l] is layer l's
    /// filter (null: always probed); the base (layer 0) has none.</summary>
    [SkipLocalsInit]
    public static void Lookup(ReadOnlySpan<LayerTable> layers, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<ulong> keys, Span<ValueRef> results)
    {
        if (results.Length < keys.Length)
        {
            throw new ArgumentException("results is shorter than keys", nameof(results));
        }

        var top = layers.Length - 1;
        Span<ulong> hashes = stackalloc ulong[Chunk];
        Span<ulong> where = stackalloc ulong[Chunk];
        Span<ulong> overflow = stackalloc ulong[Chunk];
        Span<int> layerOf = stackalloc int[Chunk];
        Span<byte> retry = stackalloc byte[Chunk];
        for (var start = 0; start < keys.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, keys.Length - start);
            var chunk = keys.Slice(start, n);
            KeyHash.MixBatch(chunk, hashes);
            var sample = ThreadFaults.Begin();
            var faulting = ThreadFaults.PerCall >= ReadAheadFaultsPerChunk;
            // Filters first, in passes of their own, oldest layer first so the newest that may
            // hold a key is the one left: a filter word not in cache is a miss the bucket's
            // address waits for, and in a loop this small many are in flight at once.
            layerOf[..n].Clear();
            for (var layer = 1; layer <= top; layer++)
            {
                if (filters[layer] is { } filter)
                {
                    filter.Mark(hashes[..n], layerOf, layer);
                }
                else
                {
                    layerOf[..n].Fill(layer);
                }
            }

            for (var i = 0; i < n; i++)
            {
                ref readonly var table = ref layers[layerOf[i]];
                var bucket = table.HomeBucket(hashes[i]);
                where[i] = bucket;
                LayerTable.Prefetch(table.BucketAt(bucket));
                if (faulting)
                {
                    ReadAhead(table.BucketAt(bucket));
                }
            }

            for (var i = 0; i < n; i++)
            {
                ref readonly var table = ref layers[layerOf[i]];
                var home = where[i];
                where[i] = table.Probe(home, KeyHash.Fingerprint(hashes[i]));
                if (where[i] == LayerTable.Slow)
                {
                    // Home bucket full and no fingerprint match: the key, if present, overflowed
                    // into the next bucket (about 6% of keys at load factor 0.75). Start that miss
                    // now and probe it in the next pass instead of walking it unprefetched.
                    overflow[i] = table.NextBucket(home);
                    LayerTable.Prefetch(table.BucketAt(overflow[i]));
                }
            }

            // Overflow buckets, one round each, the next bucket of a key still unresolved started in
            // the round before. Keys past the home bucket's neighbour are 1.9 % at load factor 0.75
            // (bench lookup --data, all keys present); walked one by one in FindSlow, each took an
            // unhidden cache miss: 6 % of a server's CPU (perf). Past OverflowRounds, FindSlow
            // walks on from the home bucket.
            var unresolved = true;
            for (var round = 0; round < OverflowRounds && unresolved; round++)
            {
                unresolved = false;
                for (var i = 0; i < n; i++)
                {
                    if (where[i] == LayerTable.Slow)
                    {
                        ref readonly var table = ref layers[layerOf[i]];
                        where[i] = table.Probe(overflow[i], KeyHash.Fingerprint(hashes[i]));
                        if (where[i] == LayerTable.Slow)
                        {
                            overflow[i] = table.NextBucket(overflow[i]);
                            LayerTable.Prefetch(table.BucketAt(overflow[i]));
                            unresolved = true;
                        }
                    }
                }
            }

            if (faulting)
            {
                for (var i = 0; i < n; i++)
                {
                    if (where[i] < LayerTable.Slow)
                    {
                        ReadAhead(layers[layerOf[i]].RecordAt(where[i]));
                    }
                }
            }

            var again = 0;
            for (var i = 0; i < n; i++)
            {
                var layer = layerOf[i];
                var value = Confirm(layers[layer], where[i], chunk[i], hashes[i]);
                if (value.Found || layer == 0)
                {
                    results[start + i] = value;
                }
                else
                {
                    layerOf[i] = Candidate(filters, layer - 1, hashes[i]);
                    retry[again++] = (byte)i;
                }
            }

            if (again > 0)
            {
                Retry(layers, filters, chunk, hashes, retry[..again], layerOf, where, results.Slice(start, n));
            }

            ThreadFaults.End(sample);
        }
    }

    /// <summary>The newest layer at or below <paramref name="from"/> that may hold the key: a patch
    /// layer whose filter says maybe (or that has no filter), else the base (0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Candidate(ReadOnlySpan<KeyFilter?> filters, int from, ulong hash)
    {
        for (var layer = from; layer >= 1; layer--)
        {
            if (filters[layer] is not { } filter || filter.MayContain(hash))
            {
                return layer;
            }
        }

        return 0;
    }

    /// <summary>The answer of a probe: the record at <paramref name="where"/> if it holds the key,
    /// else the key walked from its home bucket (a full bucket, or a fingerprint of another key).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ValueRef Confirm(in LayerTable table, ulong where, ulong key, ulong hash) => where switch
    {
        LayerTable.Miss => ValueRef.Missing,
        LayerTable.Slow => table.FindSlow(key, hash),
        _ => table.TryRecord(where, key, out var v) ? v : table.FindSlow(key, hash),
    };

    /// <summary>The keys a filter wrongly let through (about 1 % of the keys a patch layer does
    /// not hold), each already moved to the next older layer that may hold it: probed there in a
    /// pipeline of their own (buckets prefetched, then records), round after round until each is
    /// found or missing from the base. One by one, each cost a cache miss in the base unhidden:
    /// 8 % of the lookup's time with a single 10,000-key patch (perf).</summary>
    private static void Retry(
        ReadOnlySpan<LayerTable> layers, ReadOnlySpan<KeyFilter?> filters, ReadOnlySpan<ulong> chunk, ReadOnlySpan<ulong> hashes,
        Span<byte> pending, Span<int> layerOf, Span<ulong> where, Span<ValueRef> results)
    {
        while (pending.Length > 0)
        {
            foreach (var i in pending)
            {
                ref readonly var table = ref layers[layerOf[i]];
                where[i] = table.HomeBucket(hashes[i]);
                LayerTable.Prefetch(table.BucketAt(where[i]));
            }

            foreach (var i in pending)
            {
                where[i] = layers[layerOf[i]].Probe(where[i], KeyHash.Fingerprint(hashes[i]));
            }

            var again = 0;
            foreach (var i in pending)
            {
                var layer = layerOf[i];
                var value = Confirm(layers[layer], where[i], chunk[i], hashes[i]);
                if (value.Found || layer == 0)
                {
                    results[i] = value;
                }
                else
                {
                    // Written behind where it is read: again <= the position read.
                    layerOf[i] = Candidate(filters, layer - 1, hashes[i]);
                    pending[again++] = i;
                }
            }

            pending = pending[..again];
        }
    }

    /// <summary>
    /// Starts reading the page at <paramref name="address"/> if it is not in memory, without
    /// waiting (MADV_WILLNEED on a file mapping queues the read and returns). Used only while this
    /// thread is taking page faults (a table larger than the memory it may use): a request's
    /// misses then go to the disk together, instead of one synchronous fault after another.
    /// Measured with bench/larger-than-memory.sh (50M keys, Zipf 0.99): at 50 % of the package in
    /// memory, 56k → 100k keys/s and p99 69 → 37 ms.
    /// </summary>
    private static void ReadAhead(void* address)
    {
        const long Page = 4096;
        _ = LibC.madvise((nint)((long)address & ~(Page - 1)), (nuint)Page, LibC.MadvWillNeed);
    }
}
