using System.Globalization;
using System.Text.RegularExpressions;
using Appliance.Core.Training;

namespace Appliance.E2E.Tests;

/// <summary>
/// Training on PyTorch (Debian's python3-torch) and serving what it exports: scripts/train-torch.sh
/// with two processes (the table sharded by row, rows and gradients exchanged with all-to-all, the
/// dense network under DDP), then the export built and served by a real engine — its scores for
/// holdout.tsv equal the trainer's holdout.predictions within 1e-5, before and after a --delta
/// patch, and the held-out AUC reaches 90 % of the best any model can (the hidden model's own). The
/// Python features equal `cube features` on the 1000 real Criteo rows, for both hash schemes. And
/// docs/export-contract.md's PyTorch example, run exactly as the page prints it.
/// </summary>
public sealed partial class TorchTrainerTests
{
    private const string Python = "/usr/bin/python3"; // Debian's, where python3-torch installs

    [Fact]
    public void TwoProcessesTrainShardedAndTheServedScoresAreTheTrainers()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "8000", "--out", "data.tsv", "--seed", "3").Ok();
        var train = Script("train-torch.sh", dir, "--procs", "2", "--data", "data.tsv", "--out", "out", "--epochs", "2");
        Assert.Matches("on 2 process\\(es\\); base [0-9]+: [0-9]+ rows; held-out 800 rows", train);

        var (served, maxDifference) = ServeHoldout(dir, "out", ["out/donefile/base.txt"]);
        Assert.True(maxDifference <= 1e-5, $"served vs trainer: max difference {maxDifference}");

        // AUC against the best achievable on the same rows: the hidden model's own probabilities.
        var labels = File.ReadLines(dir.Combine("out/holdout.tsv")).Select(l => l[0] == '1' ? 1 : 0).ToList();
        var truth = File.ReadLines(dir.Combine("data.tsv.truth")).Skip(7200).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToList();
        var auc = BinaryMetrics.Auc([.. served.Select((s, i) => ((double)s, labels[i]))]);
        var best = BinaryMetrics.Auc([.. truth.Select((p, i) => (p, labels[i]))]);
        Assert.True(auc >= 0.9 * best, $"held-out AUC {auc:F4}, best achievable {best:F4}");

        // The next day's rows as a patch: only the rows they touched, served on top of the base.
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "2000", "--out", "day2.tsv", "--seed", "3", "--stream", "1").Ok();
        var delta = Script("train-torch.sh", dir, "--procs", "2", "--data", "day2.tsv", "--out", "out", "--epochs", "1", "--delta");
        var patchRows = int.Parse(PatchRows().Match(delta).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(patchRows, 1, 19_999);
        Assert.Single(File.ReadAllLines(dir.Combine("out/donefile/patch.txt")));
        var (_, afterPatch) = ServeHoldout(dir, "out", ["out/donefile/base.txt", "out/donefile/patch.txt"]);
        Assert.True(afterPatch <= 1e-5, $"served vs trainer after the patch: max difference {afterPatch}");
    }

    [Theory]
    [InlineData("paddle")]
    [InlineData("xxh64")]
    public void PythonFeaturesAreTheEnginesOnTheRealCriteoRows(string scheme)
    {
        using var dir = new TempDirectory();
        var engine = CubeProcess.Run(dir.Path, "features", "--hash", scheme, TestData.CriteoSample).Ok().Stdout;
        var python = ExternalTool.Run(Python, "python3", ["-c", $$"""
            import sys
            sys.path.insert(0, {{Quote(Path.Combine(TestData.RepositoryRoot, "deploy", "k8s", "scripts"))}})
            from cube_export import features
            for line in open({{Quote(TestData.CriteoSample)}}, encoding="utf-8"):
                _, dense, keys = features(line, "{{scheme}}")
                print(" ".join(repr(d) for d in dense) + "\t" + " ".join(str(k) for k in keys))
            """]);
        Assert.True(python.ExitCode == 0, python.Stderr);
        var expected = engine.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var actual = python.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1000, expected.Length);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var (e, a) = (expected[i].Split('\t'), actual[i].Split('\t'));
            Assert.True(e[1] == a[1], $"row {i + 1}: keys {a[1]}, the engine's {e[1]}");
            var (ed, ad) = (e[0].Split(' ').Select(Float).ToArray(), a[0].Split(' ').Select(Float).ToArray());
            Assert.True(ed.SequenceEqual(ad), $"row {i + 1}: dense {a[0]}, the engine's {e[0]}");
        }
    }

    /// <summary>docs/export-contract.md's PyTorch example, the code block exactly as printed.</summary>
    [Fact]
    public void TheExportContractsPyTorchExampleServesWhatItPredicts()
    {
        using var dir = new TempDirectory();
        var page = File.ReadAllText(Path.Combine(TestData.RepositoryRoot, "docs", "export-contract.md"));
        var section = page[page.IndexOf("## 5. PyTorch example", StringComparison.Ordinal)..];
        var code = CodeBlock().Match(section).Groups[1].Value;
        File.WriteAllText(dir.Combine("example.py"), code);
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "4000", "--out", "data.tsv", "--seed", "5").Ok();
        Directory.CreateDirectory(dir.Combine("out"));
        var run = OnceMoreAfterATimeout("example.py", () => ExternalTool.Run(Python, "python3-torch", [dir.Combine("example.py"), "data.tsv", "out"], workingDirectory: dir.Path, timeout: TimeSpan.FromMinutes(2),
            environment: new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(TestData.RepositoryRoot, "deploy", "k8s", "scripts") }));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        var (_, maxDifference) = ServeHoldout(dir, "out", ["out/donefile/base.txt"]);
        Assert.True(maxDifference <= 1e-5, $"the example's own predictions vs served: max difference {maxDifference}");
    }

    /// <summary>Builds the donefiles' versions, serves them with an engine, scores OUT/holdout.tsv
    /// over HTTP: the served scores and their largest difference from OUT/holdout.predictions.</summary>
    private static (float[] Served, double MaxDifference) ServeHoldout(TempDirectory dir, string outDir, string[] donefiles)
    {
        var packages = dir.Combine($"packages-{donefiles.Length}");
        foreach (var donefile in donefiles)
        {
            CubeProcess.Run(dir.Path, "build", "--donefile", donefile, "--output", packages, "--dict", "test_dict", "--shards", "2", "--value-codec", "f32").Ok();
        }

        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine($"{outDir}/model"), "--local", "--data-dir", packages);
        var scores = dir.Combine($"served-{donefiles.Length}.txt");
        CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{engine.HttpPort}", "--data", $"{outDir}/holdout.tsv", "--out", scores).Ok();
        var served = File.ReadAllLines(scores).Select(Float).ToArray();
        var trainer = File.ReadAllLines(dir.Combine($"{outDir}/holdout.predictions")).Select(Float).ToArray();
        Assert.Equal(trainer.Length, served.Length);
        return (served, served.Zip(trainer, (s, t) => Math.Abs((double)s - t)).Max());
    }

    /// <summary>Runs a training script; one that exits non-zero fails the test at once.</summary>
    private static string Script(string name, TempDirectory dir, params string[] args)
    {
        var result = OnceMoreAfterATimeout(name, () => ExternalTool.Run(Path.Combine(TestData.RepositoryRoot, "scripts", name), "python3-torch", args, workingDirectory: dir.Path, timeout: TimeSpan.FromMinutes(2.5)));
        Assert.True(result.ExitCode == 0, $"{name}: exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        return result.Stdout + result.Stderr;
    }

    /// <summary>A PyTorch run takes 6-20 s here, but on 2026-12-06 a full-suite run saw
    /// train-torch.sh (2 processes) not finish in 5 minutes, and a run of this class alone failed
    /// after 3 min 8 s (its output not kept; the example's limit was 3 minutes); neither came back
    /// in 40 runs since, alone or under load. A run that times out is run once more, and what it
    /// printed — each Python process's stacks when it was stopped (ExternalTool) — goes to
    /// artifacts/test-notes.log, which scripts/test.sh prints at the end, so the next hang says
    /// where it waited.</summary>
    private static ExternalTool.Result OnceMoreAfterATimeout(string what, Func<ExternalTool.Result> run)
    {
        try
        {
            return run();
        }
        catch (TimeoutException e)
        {
            var notes = Path.Combine(TestData.RepositoryRoot, "artifacts", "test-notes.log");
            Directory.CreateDirectory(Path.GetDirectoryName(notes)!);
            File.AppendAllText(notes, $"TorchTrainerTests: {what}: {e.Message}\nrunning it once more\n");
            Console.Error.WriteLine($"TorchTrainerTests: {what}: {e.Message}\nrunning it once more");
            return run();
        }
    }

    private static float Float(string text) => float.Parse(text, CultureInfo.InvariantCulture);

    private static string Quote(string path) => "'" + path.Replace("'", "\\'", StringComparison.Ordinal) + "'";

    [GeneratedRegex("patch [0-9]+: ([0-9]+) rows")]
    private static partial Regex PatchRows();

    [GeneratedRegex("```python\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();
}
