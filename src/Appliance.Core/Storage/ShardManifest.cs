namespace Appliance.Core.Storage;

/// <summary>
/// <c>manifest.json</c> of one shard package: what it holds, where it sits in its lineage, and the
/// checksums a loader verifies before the package may go live.
/// </summary>
internal sealed record ShardManifest
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    public required string Dict { get; init; }

    public required int Shard { get; init; }

    public required int ShardCount { get; init; }

    /// <summary>This package's version id (digits).</summary>
    public required string Version { get; init; }

    /// <summary>The base version of the lineage; equals <see cref="Version"/> for a base.</summary>
    public required string Base { get; init; }

    public required VersionMode Mode { get; init; }

    /// <summary>Patches of the same base that were built before this one, in order.</summary>
    public IReadOnlyList<string> Patches { get; init; } = [];

    public required string Codec { get; init; }

    public required int Dimension { get; init; }

    public required long Keys { get; init; }

    public required FileDigest Index { get; init; }

    public required FileDigest Values { get; init; }

    public string Created { get; init; } = string.Empty;

    /// <summary>A merged patch layer (written by the server, never by the builder): the patch
    /// versions it holds, oldest first, newest value per key. Absent (null) for every package the
    /// builder writes, so their manifests are unchanged.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Merged { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsBase => Mode == VersionMode.Base;
}
