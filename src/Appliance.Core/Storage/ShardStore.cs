namespace Appliance.Core.Storage;

/// <summary>
/// The live view of one shard and the way it changes. A new version is loaded and verified beside
/// the live one, then switched in with one atomic exchange; readers that started on the old view
/// finish on it; the old view is unmapped when its last reader leaves. A failed load changes nothing.
/// <para>Read cost stays flat however many patches a base collects: once more than
/// <see cref="MaxUnmerged"/> patch layers sit on the merged one, a background merge folds them all
/// into one merged layer (<see cref="PatchMerger"/>) and switches it in like any version: same
/// lineage, same label, same value for every key. A lineage loaded whole (a restart, a rollback)
/// is merged before it goes live. A merge that fails leaves the view unmerged (slower, never
/// wrong) and is counted with its reason.</para>
/// <para>A merged layer still costs every lookup a filter check, and more as it grows (128
/// patches of 10,000 keys on a 1M-key base: 73 % of the base's rate). Once the patch layers
/// hold <see cref="FoldAt"/> percent of the base's keys, the merge folds the base in too: the
/// view is one layer again, read as fast as a base alone, at the cost of one copy of the base
/// per that many patches (never one per patch).</para>
/// </summary>
internal sealed partial class ShardStore : IDisposable
{
    private readonly object _switchLock = new();
    private ShardView? _live;
    private bool _merging;
    private bool _disposed;

    public ShardStore(bool inMemory, DiskTier? tier = null)
    {
        InMemory = inMemory && tier is null;
        Tier = tier;
    }

    public bool InMemory { get; }

    /// <summary>The disk tier every version of this shard is read through, or null.</summary>
    public DiskTier? Tier { get; }

    /// <summary>The live view for a moment; use <see cref="Acquire"/> to read through it.</summary>
    public ShardView? Live => Volatile.Read(ref _live);

    public long Switches { get; private set; }

    /// <summary>A background merge or fold is running.</summary>
    public bool Merging
    {
        get
        {
            lock (_switchLock)
            {
                return _merging;
            }
        }
    }

    /// <summary>Patch layers allowed on top of the merged layer (or the base) before they are
    /// merged: a lookup probes at most 2 + this many layers, plus the patches applied while a
    /// merge runs.</summary>
    public int MaxUnmerged { get; init; } = DefaultMergeAfter;

    /// <summary>The default of <see cref="MaxUnmerged"/> (<c>--merge-after</c>): each patch layer
    /// costs every lookup a filter check (4-9 % of a base's rate each, bench lookup --data), and a
    /// merge rewrites only the merged layer, which folding keeps under <see cref="FoldAt"/> percent
    /// of the base.</summary>
    public const int DefaultMergeAfter = 1;

    /// <summary>The largest <c>--merge-after</c> accepted.</summary>
    public const int MaxMergeAfter = 64;

    /// <summary>Keys in patch layers, as a percentage of the base layer's keys, from which a merge
    /// folds the base in too (<c>--fold-at</c>; 0: never, patches stay in a merged layer).</summary>
    public int FoldAt { get; init; } = DefaultFoldAt;

    /// <summary>The default of <see cref="FoldAt"/>.</summary>
    public const int DefaultFoldAt = 5;

    /// <summary>The largest <c>--fold-at</c> accepted.</summary>
    public const int MaxFoldAt = 1000;

    /// <summary>Merges switched in, merges that failed, merges dropped because the live view had
    /// moved to another lineage meanwhile; the last failure; time and bytes of the last merge.</summary>
    public MergeStats Merges { get; } = new();

    public ShardLease Acquire()
    {
        while (true)
        {
            var view = Volatile.Read(ref _live);
            if (view is null)
            {
                return new ShardLease(null);
            }

            if (view.TryAddRef())
            {
                return new ShardLease(view);
            }

            // The view was retired and drained between the read and the AddRef: the field
            // already holds its successor, read again.
        }
    }

    /// <summary>Makes a base package (and then the given deltas, in order) the live view.</summary>
    public ShardView LoadBase(string baseDirectory, IEnumerable<string>? deltaDirectories = null)
    {
        var view = Stack(ShardView.OfBase, baseDirectory);
        var anchored = view.Base.Manifest.Merged ?? [];
        try
        {
            foreach (var delta in deltaDirectories ?? [])
            {
                var next = Stack(view.WithDelta, delta);
                view.Release();
                view = next;
            }
        }
        catch
        {
            view.Release();
            throw;
        }

        if (view.UnmergedLayers > MaxUnmerged)
        {
            // A whole lineage goes live merged: a restart or rollback onto 288 patches must not
            // serve them as 288 layers until a background merge catches up.
            view = MergedOrAsIs(view);
        }
        else
        {
            // A new base, or a short lineage: merged layers of another lineage are of no use now.
            RemoveUnused(view);
        }

        lock (_switchLock)
        {
            _baseDirectory = baseDirectory;
            _anchored = anchored;
            Activate(view);
        }

        Tier?.Prefill(view.Base); // a cold cache (a start, a new base) fills from the base in the background

        return view;
    }

    /// <summary>Puts a delta on top of the live view. Its base must be the live base.</summary>
    public ShardView ApplyDelta(string deltaDirectory)
    {
        lock (_switchLock)
        {
            var live = _live ?? throw new InvalidOperationException($"delta {deltaDirectory} cannot be applied: no base is live");
            var next = Stack(live.WithDelta, deltaDirectory);
            Activate(next);
            MergeIfDue();
            return next;
        }
    }

    /// <summary>Switches to <paramref name="next"/> (the store takes over the caller's reference).</summary>
    public void Activate(ShardView next)
    {
        lock (_switchLock)
        {
            var old = Interlocked.Exchange(ref _live, next);
            Switches++;
            old?.Release();
        }
    }

    public void Dispose()
    {
        lock (_switchLock)
        {
            _disposed = true;
            Interlocked.Exchange(ref _live, null)?.Release();
        }

        Tier?.Dispose();
    }

    /// <summary>Starts a background merge when the live view has too many patch layers and none
    /// is running. Called under the switch lock.</summary>
    private void MergeIfDue()
    {
        lock (_switchLock)
        {
            if (_merging || _disposed || _live is not { } live || live.UnmergedLayers <= MaxUnmerged || !live.TryAddRef())
            {
                return;
            }

            _merging = true;
            _ = Task.Run(() => MergeInBackground(live));
        }
    }

    private void MergeInBackground(ShardView view)
    {
        try
        {
            var merged = Merge(view);
            if (merged is null)
            {
                return;
            }

            try
            {
                lock (_switchLock)
                {
                    // Patches applied meanwhile stay on top; another lineage (a rollback, a new
                    // base) makes this merge moot.
                    var live = _live;
                    if (_disposed || live is null || live.Layers.Count < view.Layers.Count || !live.Layers.Take(view.Layers.Count).SequenceEqual(view.Layers))
                    {
                        Merges.Discarded();
                        return;
                    }

                    var next = live.WithMerged(merged, view.Layers.Count - 1);
                    Tier?.Carry(live, next);
                    Activate(next);
                    RemoveUnused(next);
                }
            }
            finally
            {
                PatchMerger.Settled(merged.Directory);
                merged.Release();
            }
        }
        finally
        {
            view.Release();
            lock (_switchLock)
            {
                _merging = false;
            }

            MergeIfDue(); // patches that came while it ran
        }
    }

    /// <summary>The view with all its patch layers merged into one; the view itself when the merge
    /// fails (counted, with its reason). Takes over the caller's reference.</summary>
    private ShardView MergedOrAsIs(ShardView view)
    {
        var merged = Merge(view);
        if (merged is null)
        {
            return view;
        }

        try
        {
            var next = view.WithMerged(merged, view.Layers.Count - 1);
            Tier?.Carry(view, next);
            view.Release();
            RemoveUnused(next);
            return next;
        }
        finally
        {
            PatchMerger.Settled(merged.Directory);
            merged.Release();
        }
    }

    private MappedShard? Merge(ShardView view)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var fold = FoldAt > 0 && view.PatchKeys * 100 >= (long)FoldAt * view.Base.Keys;
        var layers = view.Layers.Skip(fold ? 0 : 1).ToList();
        try
        {
            var merged = PatchMerger.Merge(view, fold ? 0 : 1, InMemory, Tier);
            Merges.Succeeded(System.Diagnostics.Stopwatch.GetElapsedTime(started), layers.Sum(l => l.MappedBytes), layers.Count, fold);
            return merged;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A full disk, a read-only directory, anything else one merge can throw: the view
            // serves unmerged, correct but slower, and the next patch tries again.
            Merges.Failed($"{(fold ? "folding" : "merging")} {layers.Count} layers of {view.VersionLabel}: {e.Message}");
            return null;
        }
        finally
        {
            if (fold)
            {
                // The fold's keys and entry positions (~12 bytes per record read, hundreds of MB
                // for a 10M-key shard) are garbage now. Left to the GC, a server that allocates
                // little kept them: RSS a third of a base above its tables after each fold
                // (bench/patch-day.sh). One blocking collection per fold returns them.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
        }
    }

    /// <summary>Removes merged layers and folds the view does not read.</summary>
    private static void RemoveUnused(ShardView view) =>
        PatchMerger.RemoveOthers(view.MergeRoot, view.Layers.Select(l => l.Directory));

    private ShardView Stack(Func<MappedShard, ShardView> compose, string directory) => Stack(compose, directory, InMemory, Tier);

    private static ShardView Stack(Func<MappedShard, ShardView> compose, string directory, bool inMemory, DiskTier? tier = null)
    {
        var package = MappedShard.Open(directory, inMemory, tier: tier);
        try
        {
            return compose(package);
        }
        finally
        {
            // The view holds its own reference; drop the opener's.
            package.Release();
        }
    }
}
