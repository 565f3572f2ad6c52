using Appliance.Core.Client;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Embeddings from a cluster through the cube client. Keys of a shard that could not
/// answer are, by <paramref name="failurePolicy"/>, zero vectors ("zero") or a request error ("error").</summary>
public sealed class RemoteEmbeddingSource(CubeClient client, string dict, string failurePolicy) : IEmbeddingSource
{
    public async Task GatherAsync(ulong[] keys, float[] vectors, int dim, ValueCodec codec, bool[] found, CancellationToken cancellationToken)
    {
        using var result = await client.LookupAsync(dict, keys, cancellationToken).ConfigureAwait(false);
        if (result.FailedKeys > 0 && failurePolicy == "error")
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
