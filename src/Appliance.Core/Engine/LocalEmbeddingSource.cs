using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from a table in this process (no socket, no copy of the value before
/// decoding). The table must serve every shard of its dict (<see cref="ShardRouting"/> picks the
/// store of each key); with <paramref name="ownsTable"/> it is closed with the source.</summary>
public sealed class LocalEmbeddingSource(LocalTable table, bool ownsTable = false) : IEmbeddingSource
{
    /// <summary>The stores' live views are read directly: always current.</summary>
    public Task RefreshVersionsAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        if (ownsTable)
        {
            table.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    public string? ServedVersion => TableVersions.OldestOf(table.Shards.Select(s => table.Store(s).Live?.VersionLabel));

    public Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken)
    {
        var shardCount = table.Shards.Count;
        var labels = new string?[shardCount];
        var (shardKeys, positions) = ShardRouting.Split(keys.Span, shardCount);
        for (var s = 0; s < shardCount; s++)
        {
            if (shardKeys[s].Length == 0)
            {
                continue;
            }

            var shardResults = new ValueRef[shardKeys[s].Length];
            using var lease = table.Store(s).Acquire();
            if (lease.View is { } view)
            {
                // The manifest says the row width: a version that cannot fit is refused before
                // any row is decoded (once per request, not once per key).
                if (view.Dimension > 0 && ValueCodecs.IsFloat(view.Codec) && view.Dimension != dim)
                {
                    throw new TableMismatchException($"table version {view.VersionLabel} of dict '{table.Dict}' holds {view.Dimension} floats per row ({ValueCodecs.Name(view.Codec)}); the model expects embedding_dim {dim}");
                }

                labels[s] = view.VersionLabel;
                view.Lookup(shardKeys[s], shardResults);
            }

            var hits = found.Span;
            for (var j = 0; j < shardResults.Length; j++)
            {
                var i = positions[s][j];
                hits[i] = shardResults[j].Found;
                if (hits[i])
                {
                    // Decode while the lease holds the mapping.
                    EmbeddingDecoder.Decode(keys.Span[i], shardResults[j].Span, lease.View!.Codec, vectors.Span.Slice(i * dim, dim));
                }
            }
        }

        return Task.FromResult(TableSpan.Of(labels));
    }
}
