using System.Text.Json;

namespace Appliance.Core.Storage;

/// <summary>
/// Folds a shard's patch layers (a merged layer and the patches on top of it, oldest first) into
/// one merged layer: a package in the ordinary layout holding each key once, with the value of the
/// newest layer that has it. A lookup then probes the base and this one layer instead of one layer
/// per patch. The cost is the size of the patches merged, never of the base: a day of 1 % patches
/// merges at most the keys they touched.
/// <para>Written beside the agent's packages, under <c>.merged/&lt;dict&gt;_part&lt;shard&gt;/</c>
/// (the catalog ignores it: not a version directory), to a temporary directory that is renamed
/// into place only when complete and synced. A merged layer is derived data: a crash mid-merge
/// leaves a temporary directory that the next merge removes, and a restart merges again from the
/// patches themselves, which stay the source of truth for rollback.</para>
/// </summary>
internal static class PatchMerger
{
    public const string DirectoryName = ".merged";

    /// <summary>Where merged layers of the shard whose base package is in
    /// <paramref name="baseDirectory"/> are kept: <c>DATA/.merged/DICT_partN</c>.</summary>
    public static string MergeRoot(string baseDirectory)
    {
        var shardName = Path.GetFileName(baseDirectory);
        var data = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(baseDirectory)))!;
        return Path.Combine(data, DirectoryName, shardName);
    }

    /// <summary>Writes the merge of <paramref name="layers"/> (patch layers of
    /// <paramref name="basePackage"/>, oldest first) and opens it.</summary>
    public static MappedShard Merge(MappedShard basePackage, IReadOnlyList<MappedShard> layers, bool inMemory)
    {
        var baseManifest = basePackage.Manifest;
        var baseDirectory = basePackage.Directory;
        var covered = layers.SelectMany(ShardView.Covered).ToList();
        var root = MergeRoot(baseDirectory);
        Directory.CreateDirectory(root);
        RemoveTemporaries(root);
        var name = $"{baseManifest.Version}_{covered[0]}-{covered[^1]}";
        var temporary = Path.Combine(root, $".tmp-{name}-{Guid.NewGuid():N}");
        var final = Path.Combine(root, $"{name}-{Guid.NewGuid():N}");
        try
        {
            var buffer = new EntryBuffer();
            foreach (var layer in layers)
            {
                layer.CopyRecordsTo(buffer);
            }

            var (index, values, keys) = ShardWriter.Write(temporary, [buffer], basePackage.Codec, baseManifest.Dimension);
            var newest = layers[^1].Manifest;
            var manifest = new ShardManifest
            {
                Dict = baseManifest.Dict,
                Shard = baseManifest.Shard,
                ShardCount = baseManifest.ShardCount,
                Version = newest.Version,
                Base = baseManifest.Version,
                Mode = VersionMode.Delta,
                Patches = newest.Patches,
                Codec = baseManifest.Codec,
                Dimension = baseManifest.Dimension,
                Keys = keys,
                Index = index,
                Values = values,
                Created = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
                Merged = covered,
            };
            Formats.AtomicFile.Write(Path.Combine(temporary, ShardLayout.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, StorageJsonContext.Default.ShardManifest));

            Directory.Move(temporary, final);
            Native.DirectorySync.Sync(root);
            return MappedShard.Open(final, inMemory);
        }
        catch
        {
            TryDelete(temporary);
            TryDelete(final);
            throw;
        }
    }

    /// <summary>Removes merged layers of this shard other than <paramref name="keep"/> (a view
    /// that still maps one keeps its pages: unlinking a mapped file is safe).</summary>
    public static void RemoveOthers(string baseDirectory, IEnumerable<string> keep)
    {
        var root = MergeRoot(baseDirectory);
        if (!Directory.Exists(root))
        {
            return;
        }

        var kept = keep.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            if (!kept.Contains(Path.GetFullPath(directory)))
            {
                TryDelete(directory);
            }
        }
    }

    private static void RemoveTemporaries(string root)
    {
        foreach (var directory in Directory.EnumerateDirectories(root, ".tmp-*"))
        {
            TryDelete(directory);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // left for the next merge's clean-up
        }
    }
}
