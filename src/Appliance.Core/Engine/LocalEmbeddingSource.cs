using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from shard stores in this process (no socket, no copy of the value before
/// decoding): store i serves the keys with key % count == i.</summary>
public sealed class LocalEmbeddingSource(IReadOnlyList<ShardStore> stores) : IEmbeddingSource
{
    public string? ServedVersion => TableVersions.OldestOf(stores.Select(s => s.Live?.VersionLabel));

    public Task GatherAsync(ulong[] keys, float[] vectors, int dim, ValueCodec codec, bool[] found, CancellationToken cancellationToken)
    {
        var shards = (ulong)stores.Count;
        var positions = new List<int>[stores.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            (positions[(int)(keys[i] % shards)] ??= []).Add(i);
        }

        for (var s = 0; s < stores.Count; s++)
        {
            if (positions[s] is not { } list)
            {
                continue;
            }

            var shardKeys = list.Select(i => keys[i]).ToArray();
            var shardResults = new ValueRef[shardKeys.Length];
            using var lease = stores[s].Acquire();
            if (lease.View is { } view)
            {
                view.Lookup(shardKeys, shardResults);
            }

            for (var j = 0; j < list.Count; j++)
            {
                var i = list[j];
                found[i] = shardResults[j].Found;
                if (found[i])
                {
                    // Decode while the lease holds the mapping.
                    EmbeddingDecoder.Decode(keys[i], shardResults[j].Span, codec == ValueCodec.Raw ? lease.View!.Codec : codec, vectors.AsSpan(i * dim, dim));
                }
            }
        }

        return Task.CompletedTask;
    }
}
