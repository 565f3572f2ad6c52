using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// Retention: how far back a rollback reaches, and what the disk holds for it.
/// <para>Without it every patch of a lineage stays on disk (the source of truth for rollback and
/// restart), so a base that collects a patch every five minutes grows its lineage's disk without
/// end. With it (<see cref="Retain"/>, given the oldest version that must stay roll-backable:
/// transfer.conf's <c>retain_versions</c>), the base package is replaced by a fold of itself and
/// the patches older than that — written in the background beside it, then exchanged into the base
/// package's own directory in one step (<see cref="Native.DirectoryExchange"/>) — and the patches
/// it holds are no longer needed: the base package now stands for the base and them (its
/// manifest's <c>merged</c>), a restart loads it plus the later patches, and a version older than
/// what it holds is refused as no longer retained.</para>
/// <code>
/// before   B_B/dict_part0   base                       .merged/dict_part0/B+p1-p55   live fold
///          B_p1 … B_p60     patches                    (window: p37 … p60)
/// anchor   .merged/dict_part0/B+p1-p36  written from B_B + p1 … p36, then exchanged:
/// after    B_B/dict_part0   base + p1 … p36 (merged)   .merged/dict_part0/B+p1-p55   live fold
///          B_p37 … B_p60    patches (the agent drops B_p1 … B_p36)
/// </code>
/// <para>An anchor is written once the patches between what the base package holds and the
/// window hold <see cref="AnchorAtPercent"/> percent of the base's keys, so it costs one copy of
/// the base per that many patches; a live fold that already holds nothing newer than the window
/// is exchanged in directly, at no cost. Disk per shard: two copies of the base (the base package,
/// the live fold) plus the merged layer plus the patches since the base package's fold — the window
/// and at most that share of the base's keys before it.</para>
/// </summary>
internal sealed partial class ShardStore
{
    /// <summary>Patch keys older than the window, in percent of the base's keys, from which the
    /// base package is rewritten with them in.</summary>
    public const int AnchorAtPercent = 25;

    /// <summary>The live lineage's base package directory (where an anchor is exchanged in); under the switch lock.</summary>
    private string? _baseDirectory;

    private string? _retainFrom;

    private IReadOnlyList<string> _anchored = [];

    /// <summary>The oldest version that must stay roll-backable (null: every version of the lineage).</summary>
    public string? RetainFrom
    {
        get
        {
            lock (_switchLock)
            {
                return _retainFrom;
            }
        }
    }

    /// <summary>Patches the live lineage's base package holds folded in: their own packages are no
    /// longer needed, and no version before the last of them can be served.</summary>
    public IReadOnlyList<string> Anchored
    {
        get
        {
            lock (_switchLock)
            {
                return _anchored;
            }
        }
    }

    /// <summary>Base packages replaced by a fold holding older patches.</summary>
    public long Promotions { get; private set; }

    /// <summary>Anchors that failed (the lineage stays whole on disk; nothing else changes).</summary>
    public long PromotionFailures { get; private set; }

    public string? LastPromotionError { get; private set; }

    /// <summary>
    /// Sets the oldest version that must stay roll-backable. A live fold that holds nothing newer is
    /// exchanged into the base package at once; otherwise, once the patches older than the window
    /// hold <see cref="AnchorAtPercent"/> percent of the base's keys, a fold of the base package and
    /// them is written in the background (when no merge runs) and exchanged in. Returns the patches
    /// the base package holds now (whose own packages the caller may drop). Never changes the live
    /// view or an answer; a failure is counted and named and changes nothing.
    /// </summary>
    /// <param name="patchDirectory">where a patch of the live lineage has its package, by id</param>
    public IReadOnlyList<string> Retain(string? retainFrom, Func<string, string> patchDirectory)
    {
        lock (_switchLock)
        {
            _retainFrom = retainFrom;
            if (retainFrom is null || _live is not { } live || _baseDirectory is not { } baseDirectory || _disposed)
            {
                return _anchored;
            }

            try
            {
                var anchored = MappedShard.ReadManifest(baseDirectory).Merged ?? [];
                var older = live.Patches.Skip(anchored.Count).TakeWhile(p => VersionId.Compare(p, retainFrom) <= 0).ToList();
                if (older.Count == 0)
                {
                    _anchored = anchored;
                    return anchored;
                }

                var fold = live.Base.Directory;
                if (fold != baseDirectory && PatchMerger.IsMergedDirectory(fold) && Directory.Exists(fold) && live.Base.Manifest.Merged is { } holds
                    && holds.Count > anchored.Count && VersionId.Compare(holds[^1], retainFrom) <= 0)
                {
                    // The live fold holds nothing newer than the window: it becomes the base package.
                    Exchange(fold, baseDirectory, holds);
                    return _anchored;
                }

                _anchored = anchored;
                var keys = older.Sum(p => MappedShard.ReadManifest(patchDirectory(p)).Keys);
                if (!_merging && keys * 100 >= (long)AnchorAtPercent * live.Base.Keys)
                {
                    _merging = true;
                    var directories = older.Select(patchDirectory).ToList();
                    _ = Task.Run(() => AnchorInBackground(baseDirectory, live.BaseVersion, anchored, directories));
                }

                return anchored;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or InputFormatException or PlatformNotSupportedException)
            {
                Failed(baseDirectory, e);
                return _anchored;
            }
        }
    }

    /// <summary>Writes the fold of the base package and <paramref name="patches"/> (read from their
    /// packages, mapped, not loaded) and exchanges it into the base package's directory if the
    /// lineage is still the live one.</summary>
    private void AnchorInBackground(string baseDirectory, string baseVersion, IReadOnlyList<string> anchored, List<string> patches)
    {
        MappedShard? written = null;
        try
        {
            var view = Stack(ShardView.OfBase, baseDirectory, inMemory: false);
            try
            {
                foreach (var patch in patches)
                {
                    var next = Stack(view.WithDelta, patch, inMemory: false);
                    view.Release();
                    view = next;
                }

                written = PatchMerger.Merge(view, 0, inMemory: false);
            }
            finally
            {
                view.Release();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true); // as after a fold
            }

            lock (_switchLock)
            {
                var holds = written.Manifest.Merged!;
                if (_disposed || _baseDirectory != baseDirectory || _live is not { } live || live.BaseVersion != baseVersion
                    || !live.Patches.Take(holds.Count).SequenceEqual(holds) || !(MappedShard.ReadManifest(baseDirectory).Merged ?? []).SequenceEqual(anchored))
                {
                    PatchMerger.TryDelete(written.Directory); // another lineage, or the base package changed meanwhile
                    return;
                }

                Exchange(written.Directory, baseDirectory, holds);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            lock (_switchLock)
            {
                Failed(baseDirectory, e);
            }

            if (written is not null)
            {
                PatchMerger.TryDelete(written.Directory);
            }
        }
        finally
        {
            if (written is not null)
            {
                PatchMerger.Settled(written.Directory);
            }

            written?.Release();
            lock (_switchLock)
            {
                _merging = false;
            }

            MergeIfDue(); // patches that came while it ran
        }
    }

    /// <summary>Exchanges a fold into the base package's directory and deletes what was there
    /// (now under the fold's old name; a view that still maps it keeps its pages). Under the switch lock.</summary>
    private void Exchange(string fold, string baseDirectory, IReadOnlyList<string> holds)
    {
        Native.DirectoryExchange.Exchange(fold, baseDirectory);
        PatchMerger.TryDelete(fold);
        _anchored = holds;
        Promotions++;
    }

    private void Failed(string baseDirectory, Exception e)
    {
        PromotionFailures++;
        LastPromotionError = $"folding old patches into {baseDirectory}: {e.Message}";
    }
}
