namespace Appliance.Core.Storage;

/// <summary>
/// <c>version.json</c> at the top of a built version directory <c>&lt;base&gt;_&lt;version&gt;/</c>. The
/// directory is renamed into place only after every shard and this file are written, so a
/// version directory that exists is complete.
/// </summary>
internal sealed record VersionInfo
{
    public int Format { get; init; } = ShardManifest.CurrentFormat;

    public required string Dict { get; init; }

    public required string Version { get; init; }

    public required string Base { get; init; }

    public required VersionMode Mode { get; init; }

    public IReadOnlyList<string> Patches { get; init; } = [];

    public required int ShardCount { get; init; }

    public required string Codec { get; init; }

    public required int Dimension { get; init; }

    public required long Keys { get; init; }

    public required long InputRecords { get; init; }

    public string Input { get; init; } = string.Empty;

    public string Created { get; init; } = string.Empty;

    public static string DirectoryName(string baseId, string version) => $"{baseId}_{version}";

    public static string ShardDirectoryName(string dict, int shard) => $"{dict}_part{shard}";

    public const string FileName = "version.json";
}
