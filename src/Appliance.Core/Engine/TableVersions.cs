using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Version labels as shards report them ("BASE" or "BASE_DELTA"): the newest id in a
/// label, and the oldest of several shards'.</summary>
internal static class TableVersions
{
    /// <summary>The last id of a label: the newest version its layers include.</summary>
    public static string Newest(string label)
    {
        var underscore = label.LastIndexOf('_');
        return underscore < 0 ? label : label[(underscore + 1)..];
    }

    /// <summary>The oldest newest-id across shards; null if any shard is unknown.</summary>
    public static string? OldestOf(IEnumerable<string?> labels)
    {
        string? oldest = null;
        foreach (var label in labels)
        {
            if (label is null)
            {
                return null;
            }

            var newest = Newest(label);
            if (oldest is null || VersionId.Compare(newest, oldest) < 0)
            {
                oldest = newest;
            }
        }

        return oldest;
    }

    /// <summary>True when <paramref name="served"/> includes <paramref name="required"/> (same or newer).</summary>
    public static bool Includes(string served, string required) =>
        !VersionId.IsValid(served) || !VersionId.IsValid(required) || VersionId.Compare(served, required) >= 0;
}
