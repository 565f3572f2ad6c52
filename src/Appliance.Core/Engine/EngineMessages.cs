namespace Appliance.Core.Engine;

/// <summary>Body of POST /predict: Criteo lines, or structured samples (13 dense values, null for
/// missing; 26 tokens), or both (lines first).</summary>
internal sealed record PredictRequest
{
    public IReadOnlyList<string>? Lines { get; init; }

    public IReadOnlyList<StructuredSample>? Samples { get; init; }

    /// <summary>Force a model variant by name (its directory name); default: chosen by weight.</summary>
    public string? Variant { get; init; }
}

internal sealed record StructuredSample
{
    public IReadOnlyList<double?> Dense { get; init; } = [];

    public IReadOnlyList<string> Sparse { get; init; } = [];

    /// <summary>The same sample as an unlabelled Criteo line.</summary>
    public string ToLine() =>
        string.Join('\t', (Dense ?? []).Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty).Concat(Sparse ?? []));
}

/// <summary>Answer of POST /predict: P(click) per sample (null where that sample had an error).</summary>
internal sealed record PredictResponse
{
    public required string ModelVersion { get; init; }

    /// <summary>The model variant that scored the request.</summary>
    public string Variant { get; init; } = string.Empty;

    public required IReadOnlyList<float?> Scores { get; init; }

    public required IReadOnlyList<string?> Errors { get; init; }

    public int MissingKeys { get; init; }

    /// <summary>Keys of a shard that failed, scored as zero vectors (<c>--on-shard-failure zero</c>):
    /// above 0, these scores are degraded and the client can tell. Counted over the network run
    /// the request was scored in (requests merged by --max-batch share the count).</summary>
    public int UnavailableKeys { get; init; }
}

/// <summary>The engine's part of /status.</summary>
internal sealed record EngineStatus
{
    /// <summary>True when a model is loaded and every shard serves the table version it needs:
    /// only then are predictions answered (otherwise 503 with <see cref="NotReadyReason"/>).</summary>
    public required bool Ready { get; init; }

    public string? NotReadyReason { get; init; }

    /// <summary>The newest version every shard serves (null: not known yet).</summary>
    public string? TableVersion { get; init; }

    public required string Model { get; init; }

    public required string ModelVersion { get; init; }

    public required string Source { get; init; }

    public required long Requests { get; init; }

    public required long Samples { get; init; }

    public required long SampleErrors { get; init; }

    public required long MissingKeys { get; init; }

    /// <summary>Keys of failed shards scored as zero vectors (<c>--on-shard-failure zero</c>).</summary>
    public long UnavailableKeys { get; init; }

    /// <summary>Network runs (batches) answered with such keys: their scores are degraded.</summary>
    public long DegradedBatches { get; init; }

    public required long Reloads { get; init; }

    public required long ReloadFailures { get; init; }

    public string? LastReloadError { get; init; }

    /// <summary>Mean samples per request received.</summary>
    public required double MeanRequest { get; init; }

    /// <summary>Mean samples per network run, after micro-batching requests together (first variant).</summary>
    public required double MeanBatch { get; init; }

    public required IReadOnlyList<VariantStatus> Variants { get; init; }

    /// <summary>Predict requests per second over <see cref="RecentWindowSeconds"/> (about the last minute).</summary>
    public double RequestsPerSecond { get; init; }

    /// <summary>99th percentile of predict latency over the same window (null: none).</summary>
    public double? PredictP99Seconds { get; init; }

    public double RecentWindowSeconds { get; init; }
}

/// <summary>One model variant in /status.</summary>
internal sealed record VariantStatus
{
    public required string Name { get; init; }

    public required string Model { get; init; }

    public required string ModelVersion { get; init; }

    public required int Weight { get; init; }

    /// <summary>A newer package's table_version that is not served yet (the package waits).</summary>
    public string? WaitingForTable { get; init; }

    public required long Requests { get; init; }

    public required double MeanBatch { get; init; }
}
