using Appliance.Core.Client;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from a cluster through the cube client. Keys of a shard that could not
/// answer are, by <paramref name="failurePolicy"/>, zero vectors or a request error. The source owns
/// the client.</summary>
public sealed class RemoteEmbeddingSource(CubeClient client, string dict, ShardFailurePolicy failurePolicy) : IEmbeddingSource
{
    public ValueTask DisposeAsync() => client.DisposeAsync();

    // The version label each shard last answered with (learned from lookups, so it lags by one request).
    private string?[] _shardVersions = [];

    public string? ServedVersion => TableVersions.OldestOf(Volatile.Read(ref _shardVersions) is { Length: > 0 } v ? v : [null]);

    public async Task GatherAsync(ulong[] keys, float[] vectors, int dim, ValueCodec codec, bool[] found, CancellationToken cancellationToken)
    {
        using var result = await client.LookupAsync(dict, keys, cancellationToken).ConfigureAwait(false);
        var seen = (string?[])Volatile.Read(ref _shardVersions).Clone();
        if (seen.Length != result.ShardVersions.Count)
        {
            seen = new string?[result.ShardVersions.Count];
        }

        for (var s = 0; s < seen.Length; s++)
        {
            seen[s] = result.ShardVersions[s] ?? seen[s];
        }

        Volatile.Write(ref _shardVersions, seen);
        if (result.FailedKeys > 0 && failurePolicy == ShardFailurePolicy.Error)
        {
            throw new EmbeddingUnavailableException($"{result.FailedKeys} key(s) unavailable: {string.Join("; ", result.Errors.Select(e => e.Error))}");
        }

        var valueCodec = codec == ValueCodec.Raw ? result.Codec : codec;
        for (var i = 0; i < keys.Length; i++)
        {
            found[i] = result.Status[i] == KeyStatus.Found;
            if (found[i])
            {
                EmbeddingDecoder.Decode(keys[i], result.Value(i), valueCodec == ValueCodec.Raw ? ValueCodec.F32 : valueCodec, vectors.AsSpan(i * dim, dim));
            }
        }
    }
}
