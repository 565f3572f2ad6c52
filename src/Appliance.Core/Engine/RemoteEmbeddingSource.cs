using Appliance.Core.Client;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from a cluster through the cube client. Keys of a shard that could not
/// answer are, by <paramref name="failurePolicy"/>, zero vectors or a request error. The source owns
/// the client.</summary>
internal sealed class RemoteEmbeddingSource(CubeClient client, string dict, ShardFailurePolicy failurePolicy) : IEmbeddingSource
{
    public ValueTask DisposeAsync() => client.DisposeAsync();

    // The version label each shard last answered with (from lookups and probes); a shard that
    // fails to answer keeps its last known label (the failure policy covers its keys); one never
    // heard from, or answering that it serves nothing (a restarted server), is null: not ready.
    private readonly object _learning = new();
    private string?[] _shardVersions = [];

    private void Learn(IReadOnlyList<string?> answered)
    {
        lock (_learning)
        {
            var seen = (string?[])_shardVersions.Clone();
            if (seen.Length != answered.Count)
            {
                seen = new string?[answered.Count];
            }

            for (var s = 0; s < seen.Length; s++)
            {
                seen[s] = answered[s] switch
                {
                    null => seen[s],
                    { Length: 0 } => null,
                    var label => label,
                };
            }

            Volatile.Write(ref _shardVersions, seen);
        }
    }

    public string? ServedVersion => TableVersions.OldestOf(Volatile.Read(ref _shardVersions) is { Length: > 0 } v ? v : [null]);

    public async Task RefreshVersionsAsync(CancellationToken cancellationToken) =>
        Learn(await client.ProbeVersionsAsync(dict, cancellationToken).ConfigureAwait(false));

    public async Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken)
    {
        using var result = await client.LookupAsync(dict, keys, cancellationToken).ConfigureAwait(false);
        Learn(result.ShardVersions);
        if (result.FailedKeys > 0 && failurePolicy == ShardFailurePolicy.Error)
        {
            throw new EmbeddingUnavailableException($"{result.FailedKeys} key(s) unavailable: {string.Join("; ", result.Errors.Select(e => e.Error))}");
        }

        var unavailable = 0;
        var hits = found.Span;
        for (var i = 0; i < keys.Length; i++)
        {
            unavailable += result.Status[i] == KeyStatus.Failed ? 1 : 0;
            hits[i] = result.Status[i] == KeyStatus.Found;
            if (hits[i])
            {
                EmbeddingDecoder.Decode(keys.Span[i], result.Value(i), result.Codec, vectors.Span.Slice(i * dim, dim));
            }
        }

        return TableSpan.Of(result.ShardVersions) with { Unavailable = unavailable };
    }

    public void WriteMetrics(Diagnostics.MetricsWriter metrics) => client.WriteMetrics(metrics);
}
