using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Where embeddings come from: the store in this process, or a remote cluster. Disposing a
/// source releases what it opened itself (a table it owns, its client).</summary>
public interface IEmbeddingSource : IAsyncDisposable
{
    /// <summary>Decodes the row of each key into <paramref name="vectors"/>[i × dim …] with the codec
    /// the table says it was built with (<paramref name="codec"/>, the model's, is informational:
    /// f32/f16/i8 tables give the same embeddings up to their rounding); a missing
    /// key leaves zeros and <paramref name="found"/>[i] false. Throws
    /// <see cref="EmbeddingUnavailableException"/> when a shard cannot answer and the policy says so.</summary>
    Task GatherAsync(ulong[] keys, float[] vectors, int dim, ValueCodec codec, bool[] found, CancellationToken cancellationToken);

    /// <summary>The newest table version (donefile id) that every shard serves, or null while
    /// that is not known (no table yet; a remote shard not heard from yet).</summary>
    string? ServedVersion { get; }

    /// <summary>Learns what every shard serves now, without waiting for traffic (the engine calls it
    /// at start and every second, so an idle engine's readiness follows the table).</summary>
    Task RefreshVersionsAsync(CancellationToken cancellationToken);
}

/// <summary>A shard could not answer (remote source, policy "error").</summary>
public sealed class EmbeddingUnavailableException(string message) : Exception(message);
