using System.Buffers;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from a table in this process (no socket, no copy of the value before
/// decoding). The table must serve every shard of its dict (<see cref="ShardRouting"/> picks the
/// store of each key); with <paramref name="ownsTable"/> it is closed with the source.</summary>
internal sealed class LocalEmbeddingSource(LocalTable table, bool ownsTable = false) : IEmbeddingSource
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

    public string? Misfit(int dimension)
    {
        foreach (var shard in table.Shards)
        {
            if (table.Store(shard).Live is { } view && view.Dimension > 0 && ValueCodecs.IsFloat(view.Codec) && view.Dimension != dimension)
            {
                return $"table version {view.VersionLabel} of dict '{table.Dict}' holds {view.Dimension} floats per row ({ValueCodecs.Name(view.Codec)}); the model expects embedding_dim {dimension}";
            }
        }

        return null;
    }

    public Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken)
    {
        var shardCount = table.Shards.Count;
        var labels = new string?[shardCount];
        var n = keys.Length;

        // Keys grouped by shard in pooled arrays (ShardRouting.Split's per-shard arrays were 49 KB
        // of garbage for a batch of 180 samples).
        var starts = ArrayPool<int>.Shared.Rent(shardCount + 1);
        var byShard = ArrayPool<ulong>.Shared.Rent(n);
        var positions = ArrayPool<int>.Shared.Rent(n);
        var results = ArrayPool<ValueRef>.Shared.Rent(n);
        try
        {
            var keySpan = keys.Span;
            ShardRouting.Group(keySpan, shardCount, starts, byShard, positions);
            for (var s = 0; s < shardCount; s++)
            {
                var (from, count) = (starts[s], starts[s + 1] - starts[s]);
                if (count == 0)
                {
                    continue;
                }

                var shardResults = results.AsSpan(from, count);
                shardResults.Clear();
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
                    view.Lookup(byShard.AsSpan(from, count), shardResults);
                }

                var hits = found.Span;
                for (var j = 0; j < count; j++)
                {
                    var i = positions[from + j];
                    hits[i] = shardResults[j].Found;
                    if (hits[i])
                    {
                        // Decode while the lease holds the mapping.
                        EmbeddingDecoder.Decode(keySpan[i], shardResults[j].Span, lease.View!.Codec, vectors.Span.Slice(i * dim, dim));
                    }
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(starts);
            ArrayPool<ulong>.Shared.Return(byShard);
            ArrayPool<int>.Shared.Return(positions);
            ArrayPool<ValueRef>.Shared.Return(results);
        }

        return Task.FromResult(TableSpan.Of(labels));
    }
}
