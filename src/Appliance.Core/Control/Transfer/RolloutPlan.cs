using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>The transfer's decisions — what to deploy next, what a rollback goes to, what may be
/// abandoned, which versions a replica catching up needs, what is retired and what stays
/// roll-backable — from what it has persisted (history, current, pinned), the donefile lines and
/// the clock alone: no I/O, no logging, no locks, no mutation. <see cref="RolloutSteps"/> applies
/// them to the state; <see cref="TransferRole"/> is the I/O around both (donefiles, builder,
/// agents, the state file); the model-based tests drive them with random histories.</summary>
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

    /// <summary>An activation cut short (by a kill) first, even while pinned: some replicas may
    /// already serve it, and a half-switched dict is worse than a finished one. Then nothing while
    /// pinned; a version left in progress; else a base newer than the
    /// current version's base; else the oldest patch of the current base newer than the current
    /// version. Abandoned lines were left out of the lists (<see cref="Monotonic"/>). A line
    /// deployed before is retried once its pause is over (failed), or rolled forward to (it was
    /// live: rolled back, then unpinned).</summary>
    public static Decision Next(string? pinned, string? current, IReadOnlyList<VersionRecord> history, IReadOnlyList<DonefileEntry> bases, IReadOnlyList<DonefileEntry> patches, long now)
    {
        if (history.FirstOrDefault(v => v.Status == VersionStatus.Enabling) is { } switching)
        {
            return new Decision(Step.Resume, switching);
        }

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
    /// (roll back first); one activating (an activation is finished or switched back, never left half done), or one a
    /// replica serves because nothing went live before it; a base a version in progress stacks on; the base of the live lineage (its patches stack on it: the agents would
    /// be told to retire what they serve); a delta a later built delta stacks on.</summary>
    public static string? WhyNotAbandon(string? current, IReadOnlyList<VersionRecord> history, VersionRecord record)
    {
        if (current == record.Label)
        {
            return $"{record.Label} is live: roll back first (cube transfer rollback), then abandon it";
        }

        if (record.Status == VersionStatus.Enabling)
        {
            return $"{record.Label} is activating (some replicas may serve it): it goes live or is switched back first; abandon it then";
        }

        if (!record.WasActive && record.Instances.FirstOrDefault(i => i.StatusId == InstanceStatus.Active) is { } serving)
        {
            return $"{record.Label} is served by shard {serving.Shard} replica {serving.Replica} (its activation failed with no earlier version to go back to); it is replaced when a later version goes live";
        }

        if (record.IsBase && history.LastOrDefault(v => v.Label == current) is { } live && live.Depend == record.Version)
        {
            return $"{record.Label} is the base of the live {live.Label}: deploy a newer base, or roll back to another lineage, first";
        }

        if (record.IsBase && history.FirstOrDefault(v => v.Depend == record.Version && v != record && !v.IsSettled) is { } stacked)
        {
            return $"{stacked.Label} is being rolled out on top of {record.Label} ({stacked.StatusStr}): abandon {stacked.Label} first";
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

    /// <summary>The version every shard serves, or null.</summary>
    public static VersionRecord? Live(TransferState state) => state.History.LastOrDefault(v => v.Label == state.Current);

    /// <summary>What an operator's rollback goes to: <paramref name="label"/>, or by default the
    /// newest version before the live one that reached every shard. Refused (with the HTTP status
    /// and why) while a version is activating, when nothing is live, the target is unknown, live already, never reached every
    /// shard, on an abandoned base, or older than the versions kept roll-backable (its patches may be folded into the
    /// base on the agents).</summary>
    public static (VersionRecord Live, VersionRecord Target)? RollbackTarget(TransferState state, string? label, int retainVersions, out OperatorResult? refusal)
    {
        refusal = null;
        if (Live(state) is not { } live)
        {
            refusal = new OperatorResult(409, "nothing is live yet: there is no version to roll back from");
            return null;
        }

        if (state.History.FirstOrDefault(v => v.Status == VersionStatus.Enabling) is { } switching)
        {
            refusal = new OperatorResult(409, $"{switching.Label} is activating: it goes live or is switched back at this poll; roll back after that");
            return null;
        }

        var target = label is null
            ? state.History.Where(v => v.WasActive && v != live && Lineage.Compare(v, live) < 0).OrderBy(v => v, Lineage).LastOrDefault()
            : state.History.LastOrDefault(v => v.Label == label);
        refusal = target switch
        {
            null when label is null => new OperatorResult(409, $"no version before {live.Label} reached every shard: nothing to roll back to"),
            null => new OperatorResult(404, $"{label} is not in the deploy history"),
            _ when target == live => new OperatorResult(409, $"{label} is already live"),
            { WasActive: false } => new OperatorResult(409, $"{target.Label} never reached every shard (it is {target.StatusStr}); only a version that was live can be rolled back to"),
            _ when state.History.Any(v => v.Label == VersionInfo.DirectoryName(target.Depend, target.Depend) && v.Status == VersionStatus.Abandoned) =>
                new OperatorResult(409, $"the base of {target.Label} was abandoned (its package is gone from the agents)"),
            _ when RetainFrom(state.History, target, retainVersions) is { } floor && VersionId.Compare(target.Version, floor) < 0 =>
                new OperatorResult(409, $"{target.Label} is older than the versions kept roll-backable (retain_versions: {retainVersions}; the oldest of its lineage is {VersionInfo.DirectoryName(target.Depend, floor)}): its patches may be folded into the base on the agents"),
            _ => null,
        };
        return refusal is null ? (live, target!) : null;
    }

    /// <summary>The oldest version of <paramref name="version"/>'s lineage that must stay
    /// roll-backable: the <paramref name="retainVersions"/>-th newest of the lineage's versions that
    /// were live on every shard, abandoned since or not (null: fewer than that, or 0 = all). Sent with an activation (the
    /// agents fold older patches into the base) and checked by a rollback. A version being
    /// activated does not count until it is live: the one it replaces is still served elsewhere and
    /// is what a failed activation switches back to, and a rollback never passes this floor, so
    /// it never asks for a version some agent folded away.</summary>
    public static string? RetainFrom(IEnumerable<VersionRecord> history, VersionRecord version, int retainVersions)
    {
        if (retainVersions <= 0)
        {
            return null;
        }

        var newest = history.Where(v => v.Depend == version.Depend && v.WasEverLive).Select(v => v.Version)
            .Distinct(StringComparer.Ordinal).OrderByDescending(v => v, ById).Take(retainVersions).ToList();
        return newest.Count < retainVersions ? null : newest[^1];
    }

    /// <summary>After the base <paramref name="current"/> is live: the built versions of lineages
    /// older than the ones kept (<paramref name="retainLineages"/>: this one and the ones live
    /// before it, so a rollback across a base finds its files), to retire on every agent.</summary>
    public static List<VersionRecord> ToRetire(IReadOnlyList<VersionRecord> history, VersionRecord current, int retainLineages)
    {
        var kept = history.Where(v => v.WasActive && VersionId.Compare(v.Depend, current.Depend) <= 0).Select(v => v.Depend)
            .Distinct().OrderByDescending(d => d, ById).Take(retainLineages).ToHashSet(StringComparer.Ordinal);
        kept.Add(current.Depend);
        return history.Where(v => !kept.Contains(v.Depend) && v.Built).ToList();
    }

    /// <summary>What a replica behind the live version stages, in order, before it is activated:
    /// the live lineage's versions that were live, up to the live one.</summary>
    public static List<VersionRecord> CatchUpLineage(IReadOnlyList<VersionRecord> history, VersionRecord current) =>
        history.Where(v => v.Depend == current.Depend && v.Status is VersionStatus.Finished or VersionStatus.Superseded && VersionId.Compare(v.Version, current.Version) <= 0)
            .OrderBy(v => v.Version, ById).ToList();

    /// <summary>Versions in (depend, version) order: a lineage's versions after its base, lineages
    /// in base order.</summary>
    public static readonly Comparer<VersionRecord> Lineage = Comparer<VersionRecord>.Create((a, b) =>
    {
        var byBase = VersionId.Compare(a.Depend, b.Depend);
        return byBase != 0 ? byBase : VersionId.Compare(a.Version, b.Version);
    });

    private static readonly Comparer<string> ById = Comparer<string>.Create(VersionId.Compare);
}
