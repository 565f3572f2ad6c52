using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// What a shard serves at one moment: a base package plus its deltas in id order; for each key
/// the newest layer holding it wins. Immutable. Holds a reference on every layer, so layers shared
/// with the next view (the base, earlier deltas) stay mapped until no view uses them.
/// <para>The layers are not the lineage: a merged layer (<see cref="PatchMerger"/>) stands for
/// several patches. <see cref="Patches"/> is the lineage a view serves (what version it is);
/// <see cref="Layers"/> is what a lookup probes (at most the base, one merged layer and the few
/// patches not merged yet). The base layer itself may be a folded base: the base with the oldest
/// patches in it (its manifest's <see cref="ShardManifest.Merged"/>).</para>
/// </summary>
internal sealed class ShardView : RefCounted
{
    private readonly MappedShard[] _layers;

    private readonly KeyFilter?[] _filters;

    /// <summary>The layers' index and records, in one array for the lookup (valid while the view
    /// holds its references).</summary>
    private readonly LayerTable[] _tables;

    private ShardView(MappedShard[] layers)
    {
        _layers = layers;
        // Read once here, not per key on the lookup path; a patch layer without one is always probed.
        _filters = [.. layers.Select((l, i) => i == 0 ? null : l.Filter)];
        _tables = [.. layers.Select(l => l.Table)];
        _tier = layers[0].Tier;
        if (_tier is not null)
        {
            _disk = [.. layers.Select(l => l.Disk ?? throw new InvalidOperationException($"{l.Directory} was opened without the disk tier its base uses"))];
        }
    }

    private readonly DiskTier? _tier;

    /// <summary>Each layer's values file for direct reads (a disk-tier view), else null.</summary>
    private readonly DiskValues[]? _disk;

    /// <summary>The disk tier the values are read through, or null (values in memory or mapped).</summary>
    public DiskTier? Tier => _tier;

    public IReadOnlyList<MappedShard> Layers => _layers;

    public MappedShard Base => _layers[0];

    public string BaseVersion => _layers[0].Manifest.Version;

    /// <summary>Id of the newest version served: the newest patch, or the base.</summary>
    public string Version => Patches.Count == 0 ? BaseVersion : Patches[^1];

    /// <summary>The original server's version string: "&lt;base&gt;" for a base, "&lt;base&gt;_&lt;patch&gt;" with deltas.</summary>
    public string VersionLabel => Patches.Count == 0 ? BaseVersion : $"{BaseVersion}_{Version}";

    /// <summary>The patches this view serves on its base, oldest first (a merged layer or a folded
    /// base counts for every patch it holds).</summary>
    public IReadOnlyList<string> Patches => _patches ??= [.. _layers[0].Manifest.Merged ?? [], .. _layers.Skip(1).SelectMany(Covered)];

    /// <summary>Where this shard's merged layers and folded bases are written
    /// (<see cref="PatchMerger.MergeRoot"/>): a folded base lies there itself, unless it was
    /// promoted into the base package's directory (<see cref="ShardStore.Retain"/>).</summary>
    public string MergeRoot => PatchMerger.IsMergedDirectory(_layers[0].Directory) ? Path.GetDirectoryName(Path.GetFullPath(_layers[0].Directory))! : PatchMerger.MergeRoot(_layers[0].Directory);

    /// <summary>Keys of the patch layers summed (a key in several counts once per layer): what
    /// a lookup may find above the base.</summary>
    public long PatchKeys => _layers.Skip(1).Sum(l => l.Keys);

    private IReadOnlyList<string>? _patches;

    /// <summary>The base and its patches: the lineage, whatever the layers.</summary>
    public IReadOnlyList<string> Lineage => [BaseVersion, .. Patches];

    /// <summary>Patch layers on top of the merged one (or of the base, when none is merged).</summary>
    public int UnmergedLayers => _layers.Length - 1 - (_layers.Length > 1 && _layers[1].Manifest.Merged is not null ? 1 : 0);

    /// <summary>The patch versions a layer stands for.</summary>
    public static IReadOnlyList<string> Covered(MappedShard layer) => layer.Manifest.Merged ?? [layer.Manifest.Version];

    /// <summary>Keys summed over layers (a key present in several layers counts once per layer).</summary>
    public long Keys => _layers.Sum(l => l.Keys);

    public long MappedBytes => _layers.Sum(l => l.MappedBytes);

    public ValueCodec Codec => _layers[0].Codec;

    public int Dimension => _layers[0].Manifest.Dimension;

    /// <summary>A view of one base package. Takes its own reference on the layer.</summary>
    public static ShardView OfBase(MappedShard basePackage)
    {
        if (!basePackage.Manifest.IsBase)
        {
            throw new InvalidOperationException($"{basePackage.Directory} is a delta (of base {basePackage.Manifest.Base}), not a base");
        }

        return FromLayers([basePackage]);
    }

    /// <summary>This view plus one more delta on top. The delta must patch this view's base and be
    /// newer than its newest layer, with the same shard, codec and dimension.</summary>
    public ShardView WithDelta(MappedShard delta)
    {
        var m = delta.Manifest;
        var b = Base.Manifest;
        string? problem = null;
        if (m.IsBase)
        {
            problem = "it is a base, not a delta";
        }
        else if (m.Base != BaseVersion)
        {
            problem = $"it patches base {m.Base} but the live base is {BaseVersion}";
        }
        else if (VersionId.Compare(m.Version, Version) <= 0)
        {
            problem = $"its version {m.Version} is not newer than the live version {Version}";
        }
        else if (m.Dict != b.Dict || m.Shard != b.Shard || m.ShardCount != b.ShardCount)
        {
            problem = $"it is {m.Dict} shard {m.Shard}/{m.ShardCount}, the live view is {b.Dict} shard {b.Shard}/{b.ShardCount}";
        }
        else if (m.Codec != b.Codec || (m.Dimension != b.Dimension && m.Keys > 0 && b.Keys > 0))
        {
            problem = $"its values are {m.Codec}×{m.Dimension}, the base's are {b.Codec}×{b.Dimension}";
        }

        if (problem is not null)
        {
            throw new InvalidOperationException($"delta {delta.Directory} cannot be applied: {problem}");
        }

        delta.EnsureFilter();
        return FromLayers([.. _layers, delta]);
    }

    /// <summary>This view with its first <paramref name="replaced"/> patch layers replaced by
    /// <paramref name="merged"/>, which must hold exactly the patches they held: the same lineage,
    /// the same answer for every key, fewer layers to probe. A folded base
    /// (<see cref="ShardManifest.IsBase"/>) replaces the base layer too.</summary>
    public ShardView WithMerged(MappedShard merged, int replaced)
    {
        var folded = merged.Manifest.IsBase;
        var covered = (folded ? (_layers[0].Manifest.Merged ?? []) : []).Concat(_layers.Skip(1).Take(replaced).SelectMany(Covered)).ToList();
        if (merged.Manifest.Merged is not { } holds || !holds.SequenceEqual(covered) || merged.Manifest.Base != BaseVersion)
        {
            throw new InvalidOperationException($"merged layer {merged.Directory} holds {string.Join(",", merged.Manifest.Merged ?? [])} of base {merged.Manifest.Base}; the layers it replaces hold {string.Join(",", covered)} of base {BaseVersion}");
        }

        if (folded)
        {
            return FromLayers([merged, .. _layers.Skip(1 + replaced)]);
        }

        merged.EnsureFilter();
        return FromLayers([_layers[0], merged, .. _layers.Skip(1 + replaced)]);
    }

    /// <summary>Looks up a batch through every layer in one pipeline (<see cref="LayeredLookup"/>):
    /// each key costs one probe of the layer that holds it, however many layers there are.</summary>
    /// <para>A disk-tier view's values are not in memory: it needs <see cref="Lookup(ReadOnlySpan{ulong}, Span{ValueRef}, ValueArena)"/>.</para>
    public void Lookup(ReadOnlySpan<ulong> keys, Span<ValueRef> results)
    {
        if (_disk is not null)
        {
            throw new InvalidOperationException("this view's values are on disk: look up with a ValueArena to hold them");
        }

        LayeredLookup.Lookup(_tables, _filters, keys, results);
    }

    /// <summary>A disk-tier lookup answered from the index and the row cache alone: false (at the
    /// first key that needs a device read, nothing counted) when it cannot be.</summary>
    public bool TryLookupCached(ReadOnlySpan<ulong> keys, Span<ValueRef> results, ValueArena arena) =>
        _disk is not null && DiskLookup.TryCached(_tables, _filters, _disk, _tier!, keys, results, arena);

    /// <summary>A disk-tier view's cache tag for <paramref name="key"/> (0: not in any layer's index).</summary>
    public ulong DiskTagOf(ulong key) =>
        _disk is null ? 0 : DiskLookup.TagOf(_tables, _filters, _disk, key);

    /// <summary>Looks up a batch in any view; a disk-tier view's values are read into
    /// <paramref name="arena"/> (valid until its next use). Returns the keys that failed
    /// (<see cref="ValueRef.IsFailed"/>: a read error; always 0 in memory): the caller must not
    /// answer as if they were missing.</summary>
    public int Lookup(ReadOnlySpan<ulong> keys, Span<ValueRef> results, ValueArena arena)
    {
        if (_disk is null)
        {
            LayeredLookup.Lookup(_tables, _filters, keys, results);
            return 0;
        }

        return DiskLookup.Lookup(_tables, _filters, _disk, _tier!, keys, results, arena);
    }

    protected override void OnDrained()
    {
        foreach (var layer in _layers)
        {
            layer.Release();
        }
    }

    private static ShardView FromLayers(MappedShard[] layers)
    {
        for (var i = 0; i < layers.Length; i++)
        {
            if (!layers[i].TryAddRef())
            {
                for (var j = 0; j < i; j++)
                {
                    layers[j].Release();
                }

                throw new InvalidOperationException($"{layers[i].Directory} was already unmapped");
            }
        }

        return new ShardView(layers);
    }
}
