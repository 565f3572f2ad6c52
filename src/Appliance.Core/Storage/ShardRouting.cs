namespace Appliance.Core.Storage;

/// <summary>
/// Which shard serves a key: <c>key % shardCount</c>, exactly as the original builder, client and
/// config order agree. This is the only place the rule is written; the builder,
/// the cluster client, the engine's local source and <c>cube lookup</c> all route through it, and
/// a golden test pins it. (Inside a shard the index uses a well-mixed hash, <see cref="KeyHash"/>.)
/// </summary>
internal static class ShardRouting
{
    public static int ShardOf(ulong key, int shardCount) => (int)(key % (ulong)shardCount);

    /// <summary>Groups <paramref name="keys"/> by shard into the caller's buffers (a counting sort,
    /// no allocation; request order kept inside each shard): shard s's keys are
    /// <c>grouped[starts[s]..starts[s + 1]]</c>, and <c>positions</c> at the same places hold their
    /// indices in <paramref name="keys"/>. <paramref name="starts"/> needs shardCount + 1 entries,
    /// the other two keys.Length.</summary>
    public static void Group(ReadOnlySpan<ulong> keys, int shardCount, Span<int> starts, Span<ulong> grouped, Span<int> positions)
    {
        starts[..(shardCount + 1)].Clear();
        foreach (var key in keys)
        {
            starts[ShardOf(key, shardCount) + 1]++;
        }

        for (var s = 0; s < shardCount; s++)
        {
            starts[s + 1] += starts[s];
        }

        for (var i = 0; i < keys.Length; i++)
        {
            // starts[s] advances to the end of shard s as its keys are placed...
            var at = starts[ShardOf(keys[i], shardCount)]++;
            grouped[at] = keys[i];
            positions[at] = i;
        }

        for (var s = shardCount; s > 0; s--)
        {
            starts[s] = starts[s - 1]; // ...so shifting by one gives every shard its start again
        }

        starts[0] = 0;
    }

    /// <summary>Splits <paramref name="keys"/> by shard, keeping request order inside each shard:
    /// <c>Keys[s]</c> are the keys of shard s and <c>Positions[s][j]</c> the index in
    /// <paramref name="keys"/> of <c>Keys[s][j]</c>. A shard with no key gets empty arrays.</summary>
    public static ShardSplit Split(ReadOnlySpan<ulong> keys, int shardCount)
    {
        var counts = new int[shardCount];
        foreach (var key in keys)
        {
            counts[ShardOf(key, shardCount)]++;
        }

        var shardKeys = new ulong[shardCount][];
        var positions = new int[shardCount][];
        for (var s = 0; s < shardCount; s++)
        {
            shardKeys[s] = counts[s] == 0 ? [] : new ulong[counts[s]];
            positions[s] = counts[s] == 0 ? [] : new int[counts[s]];
            counts[s] = 0;
        }

        for (var i = 0; i < keys.Length; i++)
        {
            var s = ShardOf(keys[i], shardCount);
            shardKeys[s][counts[s]] = keys[i];
            positions[s][counts[s]++] = i;
        }

        return new ShardSplit(shardKeys, positions);
    }
}

/// <summary>Keys grouped by shard with their positions in the request (<see cref="ShardRouting.Split"/>).</summary>
internal readonly record struct ShardSplit(ulong[][] Keys, int[][] Positions);
