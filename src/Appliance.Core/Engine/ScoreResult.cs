namespace Appliance.Core.Engine;

/// <summary>Scores of one batch, in request order: P(click) per sample, or that sample's error;
/// <see cref="Table"/> is the table versions the embeddings came from. <see cref="MissingKeys"/>
/// are keys the table does not have; <see cref="UnavailableKeys"/> keys of a shard that failed
/// (both scored with zero vectors).</summary>
internal sealed record ScoreResult(float?[] Scores, string?[] Errors, int UniqueKeys, int MissingKeys, string ModelVersion)
{
    public TableSpan Table { get; init; }

    public int UnavailableKeys => Table.Unavailable;
}
