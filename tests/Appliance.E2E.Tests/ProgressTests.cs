namespace Appliance.E2E.Tests;

/// <summary>With stderr not a terminal, training and
/// building log where they are at the interval CUBE_PROGRESS_SECONDS sets (rows/s, running loss
/// and ETA within an epoch; records, bytes and shards of a build), and stdout keeps its report.</summary>
public sealed class ProgressTests
{
    [Fact]
    public void TrainingAndBuildingReportProgressWhileTheyRun()
    {
        using var dir = new TempDirectory();
        var fast = new Dictionary<string, string> { ["CUBE_PROGRESS_SECONDS"] = "0.05" };
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "60000", "--out", "data.tsv", "--seed", "3").Ok();

        var train = CubeProcess.RunWithEnvironment(dir.Path, fast, "train", "--data", "data.tsv", "--out", "t", "--epochs", "1", "--hidden", "64,64").Ok();
        var epochLines = train.Stderr.Split('\n').Where(l => l.StartsWith("epoch 1/1: ", StringComparison.Ordinal)).ToList();
        Assert.True(epochLines.Count >= 1, train.Stderr);
        Assert.All(epochLines, l => Assert.Matches(@"^epoch 1/1: [\d.]+ k? ?of 54\.0 k rows \([\d.]+ [kM]?/s\), running log loss (\d\.\d{4}|NaN)", l));
        Assert.Contains("epoch 1/1  train log loss", train.Stdout, StringComparison.Ordinal);

        // Not the trained table (55k keys): a build that small can end within the first interval
        // (it did, once, in 50 ms); 2M keys take about a second, tens of intervals.
        CubeProcess.Run(dir.Path, "kv", "gen", "--format", "seq", "--keys", "2000000", "--parts", "2", "--seed", "3", "--out", "kv").Ok();
        var build = CubeProcess.RunWithEnvironment(dir.Path, fast, "build", "--input", "kv", "--output", "out", "--dict", "emb", "--shards", "4", "--threads", "1").Ok();
        Assert.Contains(build.Stderr.Split('\n'), l => l.StartsWith("build: ", StringComparison.Ordinal) && l.Contains(" records (", StringComparison.Ordinal) && l.Contains("/4 shards written", StringComparison.Ordinal));
        Assert.Contains("keys", build.Stdout, StringComparison.Ordinal);
    }
}
