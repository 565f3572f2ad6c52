using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// One dict's table on this machine: a shard store per served shard, filled from a directory laid
/// out as the builder writes it (and as the agent stages versions):
/// <c>DIR/&lt;base&gt;_&lt;version&gt;/&lt;dict&gt;_part&lt;i&gt;/</c>. The server, the agent, the
/// engine's local source and <c>cube lookup --data</c> all open tables through this type, so
/// "which base and deltas make the live view" is decided in one place.
/// </summary>
internal sealed class LocalTable : IDisposable
{
    private readonly ShardStore?[] _stores;

    /// <param name="directory">the builder's output or the agent's data directory</param>
    /// <param name="shards">the shards this process serves (others stay closed)</param>
    /// <param name="mergeAfter">patch layers left unmerged before a background merge (<see cref="ShardStore.MaxUnmerged"/>)</param>
    /// <param name="foldAt">patch keys, in percent of the base's, from which a merge folds the base in (<see cref="ShardStore.FoldAt"/>)</param>
    /// <param name="disk">read values from the device through a disk tier per shard (null: in memory or mapped)</param>
    public LocalTable(string directory, string dict, IEnumerable<int> shards, bool inMemory, int mergeAfter = ShardStore.DefaultMergeAfter, int foldAt = ShardStore.DefaultFoldAt, DiskTierOptions? disk = null)
    {
        Directory = directory;
        Dict = dict;
        var served = shards.ToArray();
        _stores = new ShardStore?[served.Length == 0 ? 0 : served.Max() + 1];
        foreach (var shard in served)
        {
            _stores[shard] ??= new ShardStore(inMemory, disk is null ? null : new DiskTier(disk)) { MaxUnmerged = mergeAfter, FoldAt = foldAt };
        }

        Shards = [.. served.Distinct().Order()];
    }

    public string Directory { get; }

    public string Dict { get; }

    /// <summary>The shards this table serves, ascending.</summary>
    public IReadOnlyList<int> Shards { get; }

    /// <summary>The store of <paramref name="shard"/> (which this table must serve).</summary>
    public ShardStore Store(int shard) =>
        shard < _stores.Length && _stores[shard] is { } store ? store : throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not served by this table");

    /// <summary>Opens every shard of the newest complete base in <paramref name="directory"/> (and its
    /// deltas); throws with the directory named when there is none.</summary>
    public static LocalTable OpenNewest(string directory, string dict, bool inMemory)
    {
        var newest = PackageCatalog.ResolveNewest(directory, dict)
            ?? throw new InvalidOperationException($"{directory}: no complete base of dict '{dict}'");
        return OpenNewest(directory, dict, Enumerable.Range(0, newest.Base.Info.ShardCount), inMemory);
    }

    /// <summary>Opens the given shards of the newest complete base (and its deltas).</summary>
    public static LocalTable OpenNewest(
        string directory, string dict, IEnumerable<int> shards, bool inMemory,
        int mergeAfter = ShardStore.DefaultMergeAfter, int foldAt = ShardStore.DefaultFoldAt)
    {
        var table = new LocalTable(directory, dict, shards, inMemory, mergeAfter, foldAt);
        try
        {
            if (!table.Refresh() && table.Shards.Count > 0)
            {
                throw new InvalidOperationException($"{directory}: no complete base of dict '{dict}'");
            }

            return table;
        }
        catch
        {
            table.Dispose();
            throw;
        }
    }

    /// <summary>Brings every served shard up to the newest base + its deltas in the directory.
    /// Returns true if a live view changed. A version that fails to load changes nothing.</summary>
    public bool Refresh(Action? beforeSwitch = null)
    {
        if (PackageCatalog.ResolveNewest(Directory, Dict) is not { } newest)
        {
            return false;
        }

        var baseId = newest.Base.Info.Version;
        // A base package that holds patches folded in (retention; an agent serves one shard) stands
        // for them: their own packages may be gone from the directory.
        var anchored = Shards.Count == 0 ? [] : AnchoredPatches(baseId, Shards[0]);
        List<string> patches = [.. anchored, .. newest.Deltas.Select(d => d.Info.Version).Where(v => anchored.Count == 0 || VersionId.Compare(v, anchored[^1]) > 0)];
        if (IsLive(baseId, patches))
        {
            return false;
        }

        beforeSwitch?.Invoke();
        return Apply(baseId, patches, newest.Base.Info.ShardCount);
    }

    /// <summary>True when every served shard's live view is exactly base <paramref name="baseId"/>
    /// plus <paramref name="patches"/>.</summary>
    public bool IsLive(string baseId, IReadOnlyList<string> patches) =>
        Shards.All(shard => Store(shard).Live is { } live && live.BaseVersion == baseId && live.Patches.SequenceEqual(patches));

    /// <summary>
    /// Makes base <paramref name="baseId"/> plus <paramref name="patches"/> (in order) the live view
    /// of every served shard. When the live view is the same base with a prefix of these patches,
    /// only the missing deltas are stacked on it; otherwise the lineage is loaded beside the live
    /// view and switched in. Returns true if a live view changed.
    /// </summary>
    public bool Apply(string baseId, IReadOnlyList<string> patches, int? shardCount = null)
    {
        if (shardCount is { } count && Shards.Count > 0 && Shards[^1] >= count)
        {
            throw new InvalidOperationException($"shard {Shards[^1]}: version {baseId} of {Dict} in {Directory} has only {count} shard(s)");
        }

        var changed = false;
        foreach (var shard in Shards)
        {
            changed |= ApplyTo(shard, baseId, patches);
        }

        return changed;
    }

    /// <summary>Where a version's package for one shard lies in the directory.</summary>
    public string ShardDirectory(string baseId, string version, int shard) =>
        Path.Combine(Directory, VersionInfo.DirectoryName(baseId, version), VersionInfo.ShardDirectoryName(Dict, shard));

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store?.Dispose();
        }
    }

    private bool ApplyTo(int shard, string baseId, IReadOnlyList<string> patches)
    {
        var store = Store(shard);
        var live = store.Live;
        var served = live?.Patches ?? [];
        if (live is not null && live.BaseVersion == baseId && served.Count <= patches.Count && served.SequenceEqual(patches.Take(served.Count)))
        {
            if (served.Count == patches.Count)
            {
                return false; // already live
            }

            foreach (var patch in patches.Skip(served.Count))
            {
                store.ApplyDelta(ShardDirectory(baseId, patch, shard));
            }

            return true;
        }

        // A base package with patches promoted into it (retention) stands for them: only the
        // later patches are stacked, and a version older than what it holds is gone.
        var anchored = AnchoredPatches(baseId, shard);
        if (NotRetained(baseId, patches, anchored) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        store.LoadBase(ShardDirectory(baseId, baseId, shard), patches.Skip(anchored.Count).Select(p => ShardDirectory(baseId, p, shard)));
        return true;
    }

    /// <summary>Sets the oldest version of the live lineage that must stay roll-backable on
    /// <paramref name="shard"/> (<see cref="ShardStore.Retain"/>); returns the patches its base
    /// package holds now.</summary>
    public IReadOnlyList<string> Retain(int shard, string? retainFrom)
    {
        var store = Store(shard);
        var baseId = store.Live?.BaseVersion ?? string.Empty;
        return store.Retain(retainFrom, patch => ShardDirectory(baseId, patch, shard));
    }

    /// <summary>The patches base <paramref name="baseId"/>'s package for <paramref name="shard"/>
    /// holds folded in (<see cref="ShardStore.Retain"/>); none for a package as built.</summary>
    public IReadOnlyList<string> AnchoredPatches(string baseId, int shard) =>
        MappedShard.ReadManifest(ShardDirectory(baseId, baseId, shard)).Merged ?? [];

    /// <summary>Why base + <paramref name="patches"/> cannot be served from a base package that
    /// holds <paramref name="anchored"/>; null when it can.</summary>
    public string? NotRetained(string baseId, IReadOnlyList<string> patches, IReadOnlyList<string> anchored) =>
        anchored.Count == 0 || (patches.Count >= anchored.Count && patches.Take(anchored.Count).SequenceEqual(anchored))
            ? null
            : $"version {baseId}_{(patches.Count == 0 ? baseId : patches[^1])} of {Dict} is no longer retained here: the base package holds patches {anchored[0]}..{anchored[^1]} folded in (retain_versions), so the oldest version this host can serve is {baseId}_{anchored[^1]}";
}
