using Appliance.Testing;

namespace Appliance.E2E.Tests;

/// <summary>bench/ab.sh, with two fake builds whose figure is known: it alternates them with the
/// order swapped every pair, prints each pair's NEW / OLD ratio and their median, and stops with the
/// run's output when a run has no figure or fails.</summary>
public sealed class AbScriptTests
{
    private static string Script => Path.Combine(TestData.RepositoryRoot, "bench", "ab.sh");

    /// <summary>A fake build: appends its name to the order file, prints its figure.</summary>
    private static string FakeBuild(TempDirectory dir, string name, string output)
    {
        var path = dir.Combine(name);
        File.WriteAllText(path, $"#!/bin/sh\necho {name} >> {dir.Combine("order")}\necho '{output}'\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    [Fact]
    public void PairsAlternateAndTheMedianRatioIsPrinted()
    {
        using var dir = new TempDirectory();
        var old = FakeBuild(dir, "old", "requests 10 keys 80.0 M/s");
        var next = FakeBuild(dir, "new", "requests 10 keys 100.0 M/s");
        var r = ExternalTool.Run("bash", "bash", [Script, old, next, "--pairs", "3", "--figure", @"keys ([0-9.]+) M/s", "--", "{cube}"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("1\t80\t100\t1.250", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("median new/old 1.250 (spread 1.250–1.250 over 3 pair(s)); higher is better: NEW is better by 25.0 % on the median", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(["old", "new", "new", "old", "old", "new"], File.ReadAllLines(dir.Combine("order")));

        var lower = ExternalTool.Run("bash", "bash", [Script, old, next, "--pairs", "1", "--lower-is-better", "--figure", @"keys ([0-9.]+)", "--", "sh", "-c", "$CUBE_BIN"]);
        Assert.True(lower.ExitCode == 0, lower.Stderr + lower.Stdout);
        Assert.Contains("lower is better: NEW is worse by 25.0 %", lower.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ARunWithoutItsFigureStopsTheAbWithItsOutput()
    {
        using var dir = new TempDirectory();
        var old = FakeBuild(dir, "old", "keys 80.0 M/s");
        var broken = FakeBuild(dir, "new", "segfault, no figure");
        var r = ExternalTool.Run("bash", "bash", [Script, old, broken, "--figure", @"keys ([0-9.]+) M/s", "--", "{cube}"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no figure matching", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("segfault, no figure", r.Stderr, StringComparison.Ordinal);

        var usage = ExternalTool.Run("bash", "bash", [Script, old, broken, "--figure", "no group", "--", "{cube}"]);
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("is not a regular expression with a group around the number", usage.Stderr, StringComparison.Ordinal);
    }
}
