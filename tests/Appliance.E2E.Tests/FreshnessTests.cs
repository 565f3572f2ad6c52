using System.Globalization;

namespace Appliance.E2E.Tests;

/// <summary>Online training and freshness, as an operator runs them: cube gen-data --drift,
/// cube train --stream (a patch and model per interval of traffic, each interval scored before it
/// is trained on), and cube demo --stream (each cadence served by a real deployment whose answers
/// must equal its trainer's).</summary>
public sealed class FreshnessTests
{
    [Fact]
    public void TrainStreamPublishesAPatchAndModelPerIntervalOfTraffic()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "3000", "--out", "base.tsv", "--seed", "3", "--drift", "1").Ok();
        var gen = CubeProcess.Run(dir.Path, "gen-data", "--rows", "1000", "--out", "stream.tsv", "--seed", "3", "--drift", "1", "--from-row", "3000", "--stream", "1").Ok();
        Assert.Contains("rows 3000..4000 of the timeline", gen.Stdout, StringComparison.Ordinal);
        CubeProcess.Run(dir.Path, "train", "--data", "base.tsv", "--out", "train", "--epochs", "1", "--hidden", "16,16").Ok();

        // 1000 rows at 40 rows/s, a patch every 5 s: 200 rows an interval, 5 intervals.
        var run = CubeProcess.Run(dir.Path, "train", "--data", "stream.tsv", "--out", "train", "--stream", "5", "--rate", "40").Ok();
        Assert.Contains("1000 rows in 5 intervals, 5 patches + models published", run.Stdout, StringComparison.Ordinal);
        var patches = File.ReadAllLines(dir.Combine("train", "donefile", "patch.txt"));
        Assert.Equal(5, patches.Length);
        var table = File.ReadAllLines(dir.Combine("train", "stream.tsv"));
        Assert.Equal(6, table.Length); // header + one line per interval
        Assert.Equal(["0", "0", "200", "0.0"], table[1].Split('\t')[..4]);
        Assert.Equal(["4", "800", "200", "20.0"], table[5].Split('\t')[..4]);
        Assert.Equal(1000, File.ReadAllLines(dir.Combine("train", "stream.predictions")).Length);
        using var line = System.Text.Json.JsonDocument.Parse(patches[^1]);
        var lastPatch = line.RootElement.GetProperty("id").GetString();
        Assert.Equal(lastPatch, table[5].Split('\t')[6]);
        using var spec = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.Combine("train", "model", "model.json")));
        Assert.Equal(lastPatch, spec.RootElement.GetProperty("table_version").GetString());
        Assert.Equal(lastPatch, spec.RootElement.GetProperty("version").GetString());

        // A bad row: the intervals before it stay published, its own publishes nothing.
        var stream = File.ReadAllLines(dir.Combine("stream.tsv"));
        stream[449] = "1\tnot a number";
        File.WriteAllLines(dir.Combine("bad.tsv"), stream);
        var bad = CubeProcess.Run(dir.Path, "train", "--data", "bad.tsv", "--out", "train", "--stream", "5", "--rate", "40");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("bad.tsv: line 450", bad.Stderr, StringComparison.Ordinal);
        var published = File.ReadAllLines(dir.Combine("train", "donefile", "patch.txt"));
        Assert.Equal(patches.Length + 2, published.Length);
        using var after = System.Text.Json.JsonDocument.Parse(published[^1]);
        using var model = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.Combine("train", "model", "model.json")));
        Assert.Equal(after.RootElement.GetProperty("id").GetString(), model.RootElement.GetProperty("table_version").GetString());
        CubeProcess.Run(dir.Path, "train", "--data", "stream.tsv", "--out", "train", "--stream", "5", "--rate", "40").Ok(); // the checkpoint carries on

        // What does not go with a stream is refused by name, and a directory without a base too.
        var refused = CubeProcess.Run(dir.Path, "train", "--data", "stream.tsv", "--out", "train", "--stream", "5", "--epochs", "2");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("option --epochs: not with --stream", refused.Stderr, StringComparison.Ordinal);
        var empty = CubeProcess.Run(dir.Path, "train", "--data", "stream.tsv", "--out", "nothing", "--stream", "5");
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("has no checkpoint and model", empty.Stderr, StringComparison.Ordinal);
        var huge = CubeProcess.Run(dir.Path, "demo", "--stream", "--dir", dir.Combine("demo"), "--minutes", "1440", "--rate", "1000000");
        Assert.Equal(2, huge.ExitCode);
        Assert.Contains("the demo streams 1 to 10000000", huge.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void TheStreamDemoServesEachCadenceExactlyAsItsTrainerScoredIt()
    {
        using var dir = new TempDirectory();
        var (http, port) = (ControlPlane.FreePort(), ControlPlane.FreePort());
        var demo = ExternalTool.Run(CubeProcess.BinaryPath, "(scripts/publish.sh)",
            ["demo", "--stream", "--dir", dir.Combine("demo"), "--rows", "4000", "--epochs", "1", "--minutes", "1", "--rate", "50", "--cadences", "10,30",
             "--http-port", http.ToString(CultureInfo.InvariantCulture), "--port", port.ToString(CultureInfo.InvariantCulture)],
            workingDirectory: dir.Path, timeout: TimeSpan.FromMinutes(4));
        Assert.True(demo.ExitCode == 0, $"exit {demo.ExitCode}\n{demo.Stdout}\n{demo.Stderr}");
        Assert.Contains("patch every 10 s: 3000 rows served", demo.Stdout, StringComparison.Ordinal);
        var summary = demo.Stdout[demo.Stdout.IndexOf("summary:", StringComparison.Ordinal)..].Split('\n');
        var rows = summary.Where(l => l.StartsWith("  patch every", StringComparison.Ordinal) || l.StartsWith("  base alone", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal("6", rows[0].Split("  ", StringSplitOptions.RemoveEmptyEntries)[1].Trim()); // 60 s of traffic / 10 s
        Assert.Equal("2", rows[1].Split("  ", StringSplitOptions.RemoveEmptyEntries)[1].Trim());
        Assert.Equal("0", rows[2].Split("  ", StringSplitOptions.RemoveEmptyEntries)[1].Trim());
        var minutes = File.ReadAllLines(dir.Combine("demo", "freshness.tsv"));
        Assert.Equal("minute\trows\tbest\tpatch_every_10_s\tpatch_every_30_s\tbase_alone", minutes[0]);
        Assert.Equal(2, minutes.Length);
    }
}
