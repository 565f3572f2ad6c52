using System.Globalization;

namespace Appliance.Fuzz.Tests;

/// <summary>
/// Every fuzz target, as part of the normal test run: a short deterministic smoke (seed 1, a few
/// seconds each; FUZZ_SECONDS and FUZZ_SEED change both — scripts/fuzz.sh runs them for minutes
/// with fresh seeds), and every input in fuzz-regressions/ replayed through its target.
/// </summary>
public sealed class FuzzTests
{
    public static TheoryData<string> Names => [.. Targets.All().Select(t => t.Target)];

    [Theory]
    [MemberData(nameof(Names))]
    public void TargetHoldsItsInvariantOnMutatedInputs(string name)
    {
        var fuzzer = Targets.Named(name);
        var seconds = double.Parse(Environment.GetEnvironmentVariable("FUZZ_SECONDS") ?? "3", CultureInfo.InvariantCulture);
        var seed = int.Parse(Environment.GetEnvironmentVariable("FUZZ_SEED") ?? "1", CultureInfo.InvariantCulture);
        var report = fuzzer.Run(seed, TimeSpan.FromSeconds(seconds), long.MaxValue);
        if (Environment.GetEnvironmentVariable("FUZZ_REPORT") is { Length: > 0 } path)
        {
            File.AppendAllText(path, $"{name}\t{report.Executions}\t{report.Elapsed.TotalSeconds:F1}\t{(report.Failure is null ? "ok" : "FAILED")}\n");
        }

        Assert.True(report.Failure is null, $"{name}: input {Convert.ToHexString(report.FailingInput ?? [])} after {report.Executions} executions: {report.Failure}");
        Assert.True(report.Executions > 0);
    }

    /// <summary>Every crash, hang or blow-up any fuzz run found, kept as a file, stays fixed.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void EveryRegressionInputHoldsTheInvariant(string name)
    {
        var fuzzer = Targets.Named(name);
        var directory = Path.Combine(TestData.RepositoryRoot, "tests", "Appliance.Fuzz.Tests", "fuzz-regressions", name);
        foreach (var file in Directory.Exists(directory) ? Directory.GetFiles(directory) : [])
        {
            Assert.True(fuzzer.Check(File.ReadAllBytes(file)) is null, $"{file}: {fuzzer.Check(File.ReadAllBytes(file))}");
        }
    }
}
