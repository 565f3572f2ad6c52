namespace Appliance.Core.Storage;

/// <summary>One complete version directory found in a builder's output.</summary>
internal sealed record CatalogVersion(string Directory, VersionInfo Info)
{
    public string ShardDirectory(int shard) =>
        Path.Combine(Directory, VersionInfo.ShardDirectoryName(Info.Dict, shard));
}
