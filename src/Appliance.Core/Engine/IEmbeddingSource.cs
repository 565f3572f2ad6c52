using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Where embeddings come from: the store in this process, or a remote cluster. Disposing a
/// source releases what it opened itself (a table it owns, its client).</summary>
internal interface IEmbeddingSource : IAsyncDisposable
{
    /// <summary>Decodes the row of each key into <paramref name="vectors"/>[i × dim …] with the codec
    /// the table says it was built with (<paramref name="codec"/>, the model's, is informational:
    /// f32/f16/i8 tables give the same embeddings up to their rounding); a missing
    /// key leaves zeros and <paramref name="found"/>[i] false. Throws
    /// <see cref="EmbeddingUnavailableException"/> when a shard cannot answer and the policy says so.
    /// Returns the table versions the rows came from (the shards that answered).</summary>
    Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken);

    /// <summary>The newest table version (donefile id) that every shard serves, or null while
    /// that is not known (no table yet; a remote shard not heard from yet).</summary>
    string? ServedVersion { get; }

    /// <summary>Learns what every shard serves now, without waiting for traffic (the engine calls it
    /// at start and every second, so an idle engine's readiness follows the table).</summary>
    Task RefreshVersionsAsync(CancellationToken cancellationToken);

    /// <summary>Why rows of <paramref name="dimension"/> floats cannot come from what the shards
    /// serve now, when the source can tell without a lookup (a local table's manifests); null when
    /// they fit or it cannot tell (a remote cluster: the first rows read say).</summary>
    string? Misfit(int dimension) => null;

    /// <summary>The source's own metrics (a remote source: its cluster client's).</summary>
    void WriteMetrics(Diagnostics.MetricsWriter metrics)
    {
    }
}

/// <summary>The table versions one gather read from: the oldest and the newest id among the
/// shards that answered (equal unless a version was being switched in meanwhile); nulls when no
/// shard was read.</summary>
internal readonly record struct TableSpan(string? Oldest, string? Newest)
{
    public static TableSpan None => default;

    /// <summary>Keys whose shard could not answer and that were given zero vectors
    /// (<c>--on-shard-failure zero</c>); the request is answered, but degraded, and says so.</summary>
    public int Unavailable { get; init; }

    /// <summary>The span of several shards' version labels ("BASE" or "BASE_DELTA"; null or empty
    /// = not read).</summary>
    public static TableSpan Of(IEnumerable<string?> labels)
    {
        string? oldest = null;
        string? newest = null;
        foreach (var label in labels)
        {
            if (string.IsNullOrEmpty(label))
            {
                continue;
            }

            var id = TableVersions.Newest(label);
            if (oldest is null || Formats.VersionId.Compare(id, oldest) < 0)
            {
                oldest = id;
            }

            if (newest is null || Formats.VersionId.Compare(id, newest) > 0)
            {
                newest = id;
            }
        }

        return new TableSpan(oldest, newest);
    }
}

/// <summary>A shard could not answer (remote source, policy "error").</summary>
internal sealed class EmbeddingUnavailableException(string message) : Exception(message);
