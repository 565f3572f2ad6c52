using System.Buffers;
using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// What a shard serves at one moment: a base package plus its deltas in id order; for each key
/// the newest layer holding it wins. Immutable. Holds a reference on every layer, so layers shared
/// with the next view (the base, earlier deltas) stay mapped until no view uses them.
/// <para>The layers are not the lineage: a merged layer (<see cref="PatchMerger"/>) stands for
/// several patches. <see cref="Patches"/> is the lineage a view serves (what version it is);
/// <see cref="Layers"/> is what a lookup probes (at most the base, one merged layer and the few
/// patches not merged yet).</para>
/// </summary>
public sealed class ShardView : RefCounted
{
    private readonly MappedShard[] _layers;

    private readonly KeyFilter?[] _filters;

    private ShardView(MappedShard[] layers)
    {
        _layers = layers;
        // Read once here, not per key on the lookup path; a patch layer without one is always probed.
        _filters = [.. layers.Select((l, i) => i == 0 ? null : l.Filter)];
    }

    public IReadOnlyList<MappedShard> Layers => _layers;

    public MappedShard Base => _layers[0];

    public string BaseVersion => _layers[0].Manifest.Version;

    /// <summary>Id of the newest layer.</summary>
    public string Version => _layers[^1].Manifest.Version;

    /// <summary>The original server's version string: "&lt;base&gt;" for a base, "&lt;base&gt;_&lt;patch&gt;" with deltas.</summary>
    public string VersionLabel => _layers.Length == 1 ? BaseVersion : $"{BaseVersion}_{Version}";

    /// <summary>The patches this view serves on its base, oldest first (a merged layer counts for
    /// every patch it holds).</summary>
    public IReadOnlyList<string> Patches => _patches ??= [.. _layers.Skip(1).SelectMany(Covered)];

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
    /// the same answer for every key, fewer layers to probe.</summary>
    public ShardView WithMerged(MappedShard merged, int replaced)
    {
        var covered = _layers.Skip(1).Take(replaced).SelectMany(Covered).ToList();
        if (merged.Manifest.Merged is not { } holds || !holds.SequenceEqual(covered) || merged.Manifest.Base != BaseVersion)
        {
            throw new InvalidOperationException($"merged layer {merged.Directory} holds {string.Join(",", merged.Manifest.Merged ?? [])} of base {merged.Manifest.Base}; the layers it replaces hold {string.Join(",", covered)} of base {BaseVersion}");
        }

        merged.EnsureFilter();
        return FromLayers([_layers[0], merged, .. _layers.Skip(1 + replaced)]);
    }

    public void Lookup(ReadOnlySpan<ulong> keys, Span<ValueRef> results)
    {
        if (_layers.Length == 1)
        {
            _layers[0].Lookup(keys, results);
            return;
        }

        // In slices: the working arrays stay small and in cache, whatever a request's size.
        for (var start = 0; start < keys.Length; start += SliceKeys)
        {
            var n = Math.Min(SliceKeys, keys.Length - start);
            LookupThroughFilters(keys.Slice(start, n), results.Slice(start, n));
        }
    }

    private const int SliceKeys = 4096;

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

    /// <summary>
    /// Each key goes to the newest layer whose filter may hold it (the base when none does). When
    /// most keys go to the base, the base is probed for all of them in place (one batched,
    /// prefetched lookup, no copying) and the few others are probed in their patch layers, which
    /// override the base where they hold the key; otherwise the keys of each layer are gathered
    /// and probed together, newest layer first. A key a filter wrongly let through is not found
    /// there and moves on to the next older layer that may hold it. A key costs one probe of the
    /// layer that has it plus a filter check in cache, however many patch layers there are.
    /// </summary>
    private void LookupThroughFilters(ReadOnlySpan<ulong> keys, Span<ValueRef> results)
    {
        var n = keys.Length;
        var scratch = t_scratch ??= new Scratch();
        scratch.Ensure(n);
        var (hashes, layerOf, positions, group, found) = (scratch.Hashes, scratch.LayerOf, scratch.Positions, scratch.Group, scratch.Found);
        var top = _layers.Length - 1;
        var toBase = 0;
        KeyHash.MixBatch(keys, hashes);
        for (var i = 0; i < n; i++)
        {
            var layer = Candidate(top, hashes[i]);
            layerOf[i] = layer;
            toBase += layer == 0 ? 1 : 0;
        }

        if (toBase == n)
        {
            _layers[0].Lookup(keys, results);
            return;
        }

        var baseFirst = toBase * 2 >= n;
        if (baseFirst)
        {
            _layers[0].Lookup(keys, results);
        }

        for (var layer = top; layer >= (baseFirst ? 1 : 0); layer--)
        {
            var count = 0;
            for (var i = 0; i < n; i++)
            {
                if (layerOf[i] == layer)
                {
                    positions[count] = i;
                    group[count++] = keys[i];
                }
            }

            if (count == 0)
            {
                continue;
            }

            _layers[layer].Lookup(group.AsSpan(0, count), found.AsSpan(0, count));
            for (var j = 0; j < count; j++)
            {
                var i = positions[j];
                if (found[j].Found || layer == 0)
                {
                    results[i] = found[j];
                }
                else
                {
                    // A false "maybe": try older layers (with baseFirst, the base's answer is
                    // already in results).
                    layerOf[i] = Candidate(layer - 1, hashes[i]);
                }
            }
        }
    }

    [ThreadStatic]
    private static Scratch? t_scratch;

    /// <summary>One thread's working arrays for <see cref="LookupThroughFilters"/>, grown as needed.</summary>
    private sealed class Scratch
    {
        public ulong[] Hashes { get; private set; } = [];

        public int[] LayerOf { get; private set; } = [];

        public int[] Positions { get; private set; } = [];

        public ulong[] Group { get; private set; } = [];

        public ValueRef[] Found { get; private set; } = [];

        public void Ensure(int n)
        {
            if (Hashes.Length >= n)
            {
                return;
            }

            var size = Math.Max(n, 256);
            (Hashes, LayerOf, Positions, Group, Found) = (new ulong[size], new int[size], new int[size], new ulong[size], new ValueRef[size]);
        }
    }

    /// <summary>The newest layer at or below <paramref name="from"/> that may hold the key: a patch
    /// layer whose filter says maybe (or that has no filter), else the base (0).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private int Candidate(int from, ulong hash)
    {
        var filters = _filters;
        for (var layer = from; layer >= 1; layer--)
        {
            if (filters[layer] is not { } filter || filter.MayContain(hash))
            {
                return layer;
            }
        }

        return 0;
    }
}
