using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>What the transfer deploys next, decided from what it has persisted (history, current,
/// pinned), the donefile lines and the clock alone: no I/O, no logging, no locks, no mutation.
/// <see cref="TransferRole"/> reads the donefiles, applies the decision (records, saves, logs) and
/// runs the rollout; the model-based tests drive this with random histories and donefiles.</summary>
internal static class RolloutPlan
{
    internal enum Step
    {
        /// <summary>Nothing to deploy (pinned, up to date, or a failed version still pausing).</summary>
        None,

        /// <summary>A version left in progress (by a restart): finish it first.</summary>
        Resume,

        /// <summary>A failed version whose pause is over: try it again.</summary>
        Retry,

        /// <summary>A version that was live and was rolled back: deploy it again (after an unpin).</summary>
        RollForward,

        /// <summary>A donefile line never deployed: a new history record.</summary>
        New,
    }

    /// <summary>The decision: <paramref name="Existing"/> for Resume, Retry and RollForward,
    /// <paramref name="Entry"/> for New.</summary>
    internal readonly record struct Decision(Step Step, VersionRecord? Existing = null, DonefileEntry? Entry = null);

    /// <summary>Nothing while pinned; a version left in progress; else a base newer than the
    /// current version's base; else the oldest patch of the current base newer than the current
    /// version. Abandoned lines were left out of the lists (<see cref="Monotonic"/>). A line
    /// deployed before is retried once its pause is over (failed), or rolled forward to (it was
    /// live: rolled back, then unpinned).</summary>
    public static Decision Next(string? pinned, string? current, IReadOnlyList<VersionRecord> history, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now)
    {
        if (pinned is not null)
        {
            return new Decision(Step.None);
        }

        if (history.FirstOrDefault(v => !v.IsSettled) is { } pending)
        {
            return new Decision(Step.Resume, pending);
        }

        var live = history.LastOrDefault(v => v.Label == current);
        var newestBase = bases.Count > 0 ? bases[^1] : null;
        DonefileEntry? entry = null;
        if (newestBase is not null && (live is null || VersionId.Compare(newestBase.Id, live.Depend) > 0))
        {
            entry = newestBase;
        }
        else if (live is not null)
        {
            entry = patches.Where(p => p.Key == live.Depend && VersionId.Compare(p.Id, live.Version) > 0)
                .OrderBy(p => p.Id, Comparer<string>.Create(VersionId.Compare)).FirstOrDefault();
        }

        if (entry is null)
        {
            return new Decision(Step.None);
        }

        var existing = history.LastOrDefault(v => v.Version == entry.Id && v.Depend == entry.Key);
        return existing switch
        {
            null => new Decision(Step.New, Entry: entry),
            { WasActive: true } => new Decision(Step.RollForward, existing),
            { Status: VersionStatus.Failed } when existing.NextRetryTime <= now => new Decision(Step.Retry, existing),
            _ => new Decision(Step.None),
        };
    }

    /// <summary>Why an operator may not abandon <paramref name="record"/>, or null: the live version
    /// (roll back first); the base of the live lineage (its patches stack on it: the agents would
    /// be told to retire what they serve); a delta a later built delta stacks on.</summary>
    public static string? WhyNotAbandon(string? current, IReadOnlyList<VersionRecord> history, VersionRecord record)
    {
        if (current == record.Label)
        {
            return $"{record.Label} is live: roll back first (cube transfer rollback), then abandon it";
        }

        if (record.IsBase && history.LastOrDefault(v => v.Label == current) is { } live && live.Depend == record.Version)
        {
            return $"{record.Label} is the base of the live {live.Label}: deploy a newer base, or roll back to another lineage, first";
        }

        if (!record.IsBase && history.FirstOrDefault(v => v.Depend == record.Depend && !v.IsBase && v.Built && v.Status != VersionStatus.Abandoned && VersionId.Compare(v.Version, record.Version) > 0) is { } later)
        {
            return $"delta {later.Label} was built on top of {record.Label}: abandon {later.Label} first";
        }

        return null;
    }

    /// <summary>Lines whose id goes backwards (bases: in the file; patches: within their base) are
    /// reported and skipped; a base line must be its own base. Abandoned versions are left out
    /// first, so a line with a wrong future id stops blocking the lines after it once abandoned.</summary>
    public static IReadOnlyList<DonefileEntry> Monotonic(IReadOnlyList<DonefileEntry> entries, string path, List<InputFormatException> errors, IReadOnlySet<string> abandoned, bool isBase)
    {
        var kept = new List<DonefileEntry>();
        var newest = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var key = isBase ? string.Empty : e.Key;
            if (abandoned.Contains(VersionInfo.DirectoryName(e.Key, e.Id)))
            {
                continue;
            }

            if (isBase && e.Id != e.Key)
            {
                errors.Add(InputFormatException.AtLine(path, e.LineNumber, $"a base line must have id == key (id {e.Id}, key {e.Key})"));
                continue;
            }

            if (newest.TryGetValue(key, out var last) && VersionId.Compare(e.Id, last) <= 0)
            {
                errors.Add(InputFormatException.AtLine(path, e.LineNumber, $"id {e.Id} is not newer than id {last} on an earlier line; skipped (if line {e.LineNumber} is right and the earlier one wrong: cube transfer abandon {(isBase ? last + "_" + last : e.Key + "_" + last)})"));
                continue;
            }

            newest[key] = e.Id;
            kept.Add(e);
        }

        return kept;
    }

    /// <summary>The patches whose base no line of base.txt has and no deployed version had, and
    /// that are not in the history already: each becomes a failed version with the reason.</summary>
    public static IReadOnlyList<DonefileEntry> Orphans(IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, IReadOnlyList<VersionRecord> history)
    {
        // One set, not a scan of the history per line (both grow with uptime; this runs every
        // poll). A patch already recorded has its key among the history's bases, so is known.
        var known = bases.Select(b => b.Id).Concat(history.Select(v => v.Depend)).ToHashSet(StringComparer.Ordinal);
        return patches.Where(p => !known.Contains(p.Key)).ToList();
    }
}
