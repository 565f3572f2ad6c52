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
/// that layer and walks on, unprefetched, to the next older layer that may hold it.</para>
/// </summary>
internal static unsafe class LayeredLookup
{
    private const int Chunk = 64;

    /// <summary>Buckets after a key's home probed in prefetched rounds before FindSlow walks on.</summary>
    private const int OverflowRounds = 4;

    /// <summary>Faults per chunk (the lookup thread's average over sampled chunks, faults inside the
    /// lookup only: <see cref="ThreadFaults"/>) from which a chunk's pages are read ahead. Reading ahead costs
    /// two madvise calls per key, ~2 µs each with most pages resident (bench/larger-than-memory.sh:
    /// server CPU per request 262 → 695 µs at 90 % of the package in memory, where 1.4 faults per
    /// chunk are waited for one by one); at 50 % (7 faults per chunk) it doubled throughput.</summary>
    private const int ReadAheadFaultsPerChunk = 3;

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
        for (var start = 0; start < keys.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, keys.Length - start);
            var chunk = keys.Slice(start, n);
            KeyHash.MixBatch(chunk, hashes);
            var sample = ThreadFaults.Begin();
            var faulting = ThreadFaults.PerCall >= ReadAheadFaultsPerChunk;
            // Filters first, in a pass of their own: a filter word not in cache is a miss the
            // bucket's address waits for, and in a loop this small many of them are in flight
            // at once (inside the probing loop, they queued: 78 % of the base's rate with one
            // merged layer of 8 patches, bench/patch-lookup.sh).
            if (top == 0)
            {
                layerOf[..n].Clear();
            }
            else
            {
                for (var i = 0; i < n; i++)
                {
                    layerOf[i] = Candidate(filters, top, hashes[i]);
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

            for (var i = 0; i < n; i++)
            {
                var layer = layerOf[i];
                ref readonly var table = ref layers[layer];
                var offset = where[i];
                var value = offset switch
                {
                    LayerTable.Miss => ValueRef.Missing,
                    LayerTable.Slow => table.FindSlow(chunk[i], hashes[i]),
                    _ => table.TryRecord(offset, chunk[i], out var v) ? v : table.FindSlow(chunk[i], hashes[i]),
                };
                results[start + i] = value.Found || layer == 0 ? value : InOlderLayers(layers, filters, layer - 1, chunk[i], hashes[i]);
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

    /// <summary>A key its filter's layer did not hold: the newest older layer that has it.</summary>
    private static ValueRef InOlderLayers(ReadOnlySpan<LayerTable> layers, ReadOnlySpan<KeyFilter?> filters, int from, ulong key, ulong hash)
    {
        for (var layer = Candidate(filters, from, hash); ; layer = Candidate(filters, layer - 1, hash))
        {
            var value = layers[layer].FindSlow(key, hash);
            if (value.Found || layer == 0)
            {
                return value;
            }
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
