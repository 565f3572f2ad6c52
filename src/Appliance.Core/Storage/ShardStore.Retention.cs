using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// Retention: how far back a rollback reaches, and what the disk holds for it.
/// <para>Without it every patch of a lineage stays on disk (the source of truth for rollback and
/// restart), so a base that collects a patch every five minutes grows its lineage's disk without
/// end. With it (<see cref="Retain"/>, given the oldest version that must stay roll-backable:
/// transfer.conf's <c>retain_versions</c>), a folded base that holds only patches older than that
/// is promoted into the base package's own directory — one atomic exchange of two directories
/// (<see cref="Native.DirectoryExchange"/>) — and the patches it holds are no longer needed: the
/// base package now stands for the base and them (its manifest's <c>merged</c>), a restart loads it
/// plus the later patches, and a version older than what it holds is refused as no longer retained.</para>
/// <code>
/// before   B_B/dict_part0   base                      .merged/dict_part0/B+p1-p40   pending fold
///          B_p1 … B_p60     patches                   .merged/dict_part0/B+p1-p55   live fold
/// promote  (floor reached p40: the pending fold is exchanged into B_B/dict_part0)
/// after    B_B/dict_part0   base + p1..p40 (merged)   .merged/dict_part0/B+p1-p55   live fold
///          B_p41 … B_p60    patches (the agent drops B_p1 … B_p40)
/// </code>
/// <para>Which fold: one that holds no patch newer than the floor. The live fold is usually
/// newer, so the store keeps one older fold aside (the "pending" fold: the first live fold
/// replaced after the last promotion) until the floor passes it. Disk per shard: at most three
/// copies of the base (the base package, the pending fold, the live fold) plus the patches since
/// the base package's fold — about retain_versions plus the patches between two promotions —
/// instead of the base, the live fold and every patch since the base.</para>
/// </summary>
public sealed partial class ShardStore
{
    /// <summary>The live lineage's base package directory (where a fold is promoted); under the switch lock.</summary>
    private string? _baseDirectory;

    /// <summary>A fold of the live lineage kept on disk to be promoted later; under the switch lock.</summary>
    private string? _pending;

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

    /// <summary>Patches the live lineage's base package holds folded in (promoted): their own
    /// packages are no longer needed, and no version before the last of them can be served.</summary>
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

    /// <summary>Folds promoted into the base package.</summary>
    public long Promotions { get; private set; }

    /// <summary>Promotions that failed (the lineage stays whole on disk, nothing else changes).</summary>
    public long PromotionFailures { get; private set; }

    public string? LastPromotionError { get; private set; }

    /// <summary>
    /// Sets the oldest version that must stay roll-backable and promotes the newest fold that holds
    /// nothing newer into the base package, if one is newer than what the base package holds.
    /// Returns the patches the base package now holds (whose own packages the caller may drop).
    /// Never changes the live view or an answer; a failure is counted and named and changes nothing.
    /// </summary>
    public IReadOnlyList<string> Retain(string? retainFrom)
    {
        lock (_switchLock)
        {
            _retainFrom = retainFrom;
            if (retainFrom is null || _live is not { } live || _baseDirectory is not { } baseDirectory)
            {
                return _anchored;
            }

            try
            {
                var anchored = MappedShard.ReadManifest(baseDirectory).Merged ?? [];
                string? best = null;
                var bestHolds = anchored;
                foreach (var candidate in new[] { _pending, live.Base.Directory })
                {
                    if (candidate is not null && candidate != baseDirectory && PatchMerger.IsMergedDirectory(candidate) && Directory.Exists(candidate)
                        && MappedShard.ReadManifest(candidate) is { IsBase: true, Merged: { Count: > 0 } holds } manifest
                        && manifest.Base == live.BaseVersion && holds.Count > bestHolds.Count
                        && VersionId.Compare(holds[^1], retainFrom) <= 0 && live.Patches.Take(holds.Count).SequenceEqual(holds))
                    {
                        best = candidate;
                        bestHolds = holds;
                    }
                }

                if (best is not null)
                {
                    Native.DirectoryExchange.Exchange(best, baseDirectory);
                    PatchMerger.TryDelete(best); // the previous base package, under the fold's old name
                    if (_pending is not null && _pending != best)
                    {
                        PatchMerger.TryDelete(_pending); // older than the promoted fold, or newer and re-chosen later
                    }

                    _pending = null;
                    Promotions++;
                }

                _anchored = bestHolds;
                return bestHolds;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or Formats.InputFormatException or PlatformNotSupportedException)
            {
                PromotionFailures++;
                LastPromotionError = $"promoting a fold into {baseDirectory}: {e.Message}";
                return _anchored;
            }
        }
    }

    /// <summary>After a fold replaced <paramref name="replaced"/> as the base layer: with retention
    /// on and no fold set aside yet, the replaced fold is kept as the next one to promote. Under the
    /// switch lock.</summary>
    private void KeepAsPending(MappedShard replaced, ShardView next)
    {
        if (_retainFrom is not null && _pending is null && replaced.Manifest is { IsBase: true, Merged: { Count: > 0 } holds }
            && PatchMerger.IsMergedDirectory(replaced.Directory) && Directory.Exists(replaced.Directory)
            && replaced.Manifest.Base == next.BaseVersion && next.Patches.Take(holds.Count).SequenceEqual(holds))
        {
            _pending = replaced.Directory;
        }
    }

    /// <summary>Drops the pending fold when <paramref name="view"/> is another lineage (a new base,
    /// a rollback before it): it could never be promoted for this one. Under the switch lock.</summary>
    private void ForgetPendingOutside(ShardView view)
    {
        if (_pending is null)
        {
            return;
        }

        try
        {
            var manifest = MappedShard.ReadManifest(_pending);
            var holds = manifest.Merged ?? [];
            if (holds.Count > 0 && manifest.Base == view.BaseVersion && view.Patches.Take(holds.Count).SequenceEqual(holds))
            {
                return;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or Formats.InputFormatException)
        {
            // unreadable: of no use either
        }

        _pending = null; // deleted by the clean-up that follows
    }

    /// <summary>Removes merged layers and folds the view does not read, except the pending fold.</summary>
    private void RemoveUnused(ShardView view) =>
        PatchMerger.RemoveOthers(view.MergeRoot, [.. view.Layers.Select(l => l.Directory), .. _pending is { } pending ? [pending] : Array.Empty<string>()]);
}
