using Appliance.Testing;

namespace Appliance.Core.Tests.Architecture;

/// <summary>Files stay small enough to read whole: a source file past <see cref="MaxLines"/> lines
/// is split by what its parts do (partial classes named Type.Part.cs), not left to grow.</summary>
public sealed class SourceFileSizeTests
{
    private const int MaxLines = 450;

    [Fact]
    public void NoSourceFileIsLongerThanTheLimit()
    {
        var root = TestData.RepositoryRoot;
        var separator = Path.DirectorySeparatorChar;
        var tooLong = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{separator}obj{separator}", StringComparison.Ordinal) && !f.Contains($"{separator}bin{separator}", StringComparison.Ordinal))
            .Select(f => (File: Path.GetRelativePath(root, f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > MaxLines)
            .Select(f => $"{f.File}: {f.Lines} lines")
            .ToList();
        Assert.True(tooLong.Count == 0, $"over {MaxLines} lines:\n" + string.Join('\n', tooLong));
    }
}
