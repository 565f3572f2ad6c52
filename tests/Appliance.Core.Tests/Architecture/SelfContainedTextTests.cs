using System.Text.RegularExpressions;
using Appliance.Testing;

namespace Appliance.Core.Tests.Architecture;

/// <summary>The repository stands alone: no comment, doc or script cites a file it does not hold
/// (the design notes and references its authors worked from) or a tracker's issue number; each
/// states the fact itself or links a page under docs/.</summary>
public sealed partial class SelfContainedTextTests
{
    private static readonly string[] Roots = ["src", "tests", "bench", "scripts", "docs", "deploy", "README.md", "Directory.Build.props", "Directory.Packages.props"];

    private static readonly string[] Extensions = [".cs", ".md", ".sh", ".py", ".props", ".csproj", ".yaml", ".yml", ".service", ".conf"];

    // Spelled in pieces so this file does not match itself.
    [GeneratedRegex("(" + "STYLE" + @"\.md|" + "TOOLCHAIN" + @"\.md|" + "DESIGN" + @"\.md|" + "reference" + @"/c(ube|tr)\.md|\.\./" + "shared/|" + "[Ii]ssue" + @" #?[0-9]+)")]
    private static partial Regex OutsideReference();

    [Fact]
    public void NoFileCitesWhatTheRepositoryDoesNotHold()
    {
        var root = TestData.RepositoryRoot;
        var found = new List<string>();
        foreach (var entry in Roots.Select(r => Path.Combine(root, r)))
        {
            var files = File.Exists(entry) ? [entry] : Directory.Exists(entry) ? Directory.EnumerateFiles(entry, "*", SearchOption.AllDirectories) : [];
            foreach (var file in files.Where(f => Extensions.Contains(Path.GetExtension(f)) && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
            {
                var number = 0;
                foreach (var line in File.ReadLines(file))
                {
                    number++;
                    if (OutsideReference().Match(line) is { Success: true } match)
                    {
                        found.Add($"{Path.GetRelativePath(root, file)}:{number}: '{match.Value}'");
                    }
                }
            }
        }

        Assert.True(found.Count == 0, "cited from outside the repository:\n" + string.Join('\n', found.Take(40)));
    }
}
