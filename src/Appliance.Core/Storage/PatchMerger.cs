using System.Text.Json;

namespace Appliance.Core.Storage;

/// <summary>
/// Folds a shard's patch layers (a merged layer and the patches on top of it, oldest first) into
/// one merged layer: a package in the ordinary layout holding each key once, with the value of the
/// newest layer that has it. A lookup then probes the base and this one layer instead of one layer
/// per patch. The cost is the size of the patches merged, never of the base. Once the patches hold
/// a set share of the base's keys, the base is folded in too (<see cref="ShardStore.FoldAt"/>): one
/// layer again, at the cost of one copy of the base per that many patches.
/// <para>Written beside the agent's packages, under <c>.merged/&lt;dict&gt;_part&lt;shard&gt;/</c>
/// (the catalog ignores it: not a version directory), to a temporary directory that is renamed
/// into place only when complete and synced. A merged layer is derived data: a crash mid-merge
/// leaves a temporary directory that the next merge removes, and a restart merges again from the
/// patches themselves, which stay the source of truth for rollback (until retention promotes a
/// fold into the base package: <see cref="ShardStore.Retain"/>).</para>
/// </summary>
internal static class PatchMerger
{
    public const string DirectoryName = ".merged";

    /// <summary>Directories of merges in progress (their temporary and final paths), which no
    /// clean-up may remove: a rollback's merge or clean-up runs beside a background merge of the
    /// lineage it replaces, and removing that merge's directory under it made it fail (an E2E run
    /// under load: "Could not find a part of the path '…/.tmp-100+101-110-…/manifest.json.tmp…'").
    /// The final path stays here until the caller has installed or dropped the layer
    /// (<see cref="Settled"/>).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> s_inProgress = new(StringComparer.Ordinal);

    /// <summary>Where merged layers of the shard whose base package is in
    /// <paramref name="baseDirectory"/> are kept: <c>DATA/.merged/DICT_partN</c>.</summary>
    public static string MergeRoot(string baseDirectory)
    {
        var shardName = Path.GetFileName(baseDirectory);
        var data = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(baseDirectory)))!;
        return Path.Combine(data, DirectoryName, shardName);
    }

    /// <summary>True for a merged layer or folded base written here (<c>DATA/.merged/DICT_partN/NAME</c>),
    /// false for a package the builder or the agent put in place.</summary>
    public static bool IsMergedDirectory(string directory) =>
        Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(directory)))) == DirectoryName;

    /// <summary>Writes the fold of <paramref name="view"/>'s layers from <paramref name="from"/>
    /// up (each key once, the newest layer's value) and opens it. From 1: a merged patch layer.
    /// From 0: a folded base, the base with every patch of the view in it, which a view reads
    /// alone (its manifest is a base's, with <see cref="ShardManifest.Merged"/> naming the patches).</summary>
    public static MappedShard Merge(ShardView view, int from, bool inMemory, DiskTier? tier = null)
    {
        var layers = view.Layers.Skip(from).ToList();
        var baseManifest = view.Base.Manifest;
        var covered = from == 0 ? view.Patches.ToList() : layers.SelectMany(ShardView.Covered).ToList();
        if (layers.Count == 0 || covered.Count == 0)
        {
            throw new InvalidOperationException($"nothing to merge in {view.VersionLabel} from layer {from}");
        }

        var root = view.MergeRoot;
        Directory.CreateDirectory(root);
        RemoveTemporaries(root);
        var name = $"{view.BaseVersion}{(from == 0 ? "+" : "_")}{covered[0]}-{covered[^1]}";
        var temporary = Path.Combine(root, $".tmp-{name}-{Guid.NewGuid():N}");
        var final = Path.Combine(root, $"{name}-{Guid.NewGuid():N}");
        s_inProgress[Path.GetFullPath(temporary)] = 0;
        s_inProgress[Path.GetFullPath(final)] = 0;
        try
        {
            var sources = layers.Select(l => new LayerRecords(l)).ToList();
            var (index, values, keys) = ShardWriter.Write(temporary, sources, view.Codec, baseManifest.Dimension);
            var newest = layers[^1].Manifest;
            var manifest = new ShardManifest
            {
                Dict = baseManifest.Dict,
                Shard = baseManifest.Shard,
                ShardCount = baseManifest.ShardCount,
                Version = from == 0 ? view.BaseVersion : covered[^1],
                Base = view.BaseVersion,
                Mode = from == 0 ? VersionMode.Base : VersionMode.Delta,
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
            return MappedShard.Open(final, inMemory, tier: tier);
        }
        catch
        {
            TryDelete(temporary);
            TryDelete(final);
            Settled(final);
            throw;
        }
        finally
        {
            s_inProgress.TryRemove(Path.GetFullPath(temporary), out _);
        }
    }

    /// <summary>The merged layer in <paramref name="directory"/> is in a view now, or dropped:
    /// clean-ups may judge it like any other.</summary>
    public static void Settled(string directory) => s_inProgress.TryRemove(Path.GetFullPath(directory), out _);

    /// <summary>Removes merged layers in <paramref name="root"/> other than <paramref name="keep"/>
    /// (a view that still maps one keeps its pages: unlinking a mapped file is safe).</summary>
    public static void RemoveOthers(string root, IEnumerable<string> keep)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        var kept = keep.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            var full = Path.GetFullPath(directory);
            if (!kept.Contains(full) && !s_inProgress.ContainsKey(full))
            {
                TryDelete(directory);
            }
        }
    }

    private static void RemoveTemporaries(string root)
    {
        foreach (var directory in Directory.EnumerateDirectories(root, ".tmp-*"))
        {
            if (!s_inProgress.ContainsKey(Path.GetFullPath(directory)))
            {
                TryDelete(directory);
            }
        }
    }

    /// <summary>Deletes a directory; one that cannot be deleted now is left for a later clean-up.</summary>
    public static void TryDelete(string directory)
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
