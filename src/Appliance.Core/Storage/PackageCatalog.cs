using System.Text.Json;
using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// Reads a builder's output directory: <c>&lt;output&gt;/&lt;base&gt;_&lt;version&gt;/version.json</c> plus
/// one <c>&lt;dict&gt;_part&lt;i&gt;/</c> per shard. Only complete versions are visible: the builder
/// renames a version directory into place after everything in it is written; temporary
/// directories start with '.' and are ignored.
/// </summary>
internal static class PackageCatalog
{
    /// <summary>The dicts that have a complete version in <paramref name="outputPath"/>, by name.</summary>
    public static IReadOnlyList<string> Dicts(string outputPath) =>
        [.. ScanAll(outputPath).Select(v => v.Info.Dict).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Every complete version of <paramref name="dict"/>, oldest first.</summary>
    public static IReadOnlyList<CatalogVersion> Scan(string outputPath, string dict)
    {
        var found = ScanAll(outputPath).Where(v => v.Info.Dict == dict).ToList();
        found.Sort((a, b) => VersionId.Compare(a.Info.Version, b.Info.Version));
        return found;
    }

    private static List<CatalogVersion> ScanAll(string outputPath)
    {
        var found = new List<CatalogVersion>();
        if (!Directory.Exists(outputPath))
        {
            return found;
        }

        foreach (var dir in Directory.EnumerateDirectories(outputPath))
        {
            var name = Path.GetFileName(dir);
            var underscore = name.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0 || !VersionId.IsValid(name[..underscore]) || !VersionId.IsValid(name[(underscore + 1)..]))
            {
                continue;
            }

            var info = TryReadInfo(Path.Combine(dir, VersionInfo.FileName));
            if (info is not null)
            {
                found.Add(new CatalogVersion(dir, info));
            }
        }

        return found;
    }

    /// <summary>The newest base and its deltas in id order; null if there is no base.</summary>
    public static (CatalogVersion Base, IReadOnlyList<CatalogVersion> Deltas)? ResolveNewest(string outputPath, string dict)
    {
        var all = Scan(outputPath, dict);
        var newestBase = all.LastOrDefault(v => v.Info.Mode == VersionMode.Base);
        if (newestBase is null)
        {
            return null;
        }

        var deltas = all.Where(v => v.Info.Mode == VersionMode.Delta && v.Info.Base == newestBase.Info.Version).ToList();
        return (newestBase, deltas);
    }

    public static VersionInfo? TryReadInfo(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), StorageJsonContext.Default.VersionInfo);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
