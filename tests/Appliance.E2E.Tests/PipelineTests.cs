using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Training;

namespace Appliance.E2E.Tests;

/// <summary>
/// The whole pipeline at small size with the real binary: gen-data → train (base) → export →
/// <c>cube run --roles all</c> (transfer builds and rolls out, server serves, engine predicts) →
/// predict over HTTP; then train on fresh rows → delta → live. Held-out AUC must reach 95 % of the
/// hidden model's; served scores must equal the trainer's own predictions within 1e-5 after the
/// base and after the delta; the delta must hold exactly the rows the delta run touched.
/// </summary>
public sealed class PipelineTests
{
    private const int Rows = 100_000;

    [Fact]
    public async Task TrainedModelIsServedAsTrainedAndTheDeltaHoldsExactlyTheTouchedRows()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", Rows.ToString(CultureInfo.InvariantCulture), "--out", "data.tsv", "--seed", "11").Ok();
        var train = CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "2").Ok();
        Assert.Contains("epoch 2/2", train.Stdout);
        var baseId = LastEntry(dir.Combine("train", "donefile", "base.txt")).Id;

        var port = ControlPlane.FreePort();
        using var serve = ServerProcess.Start("run", "--roles", "all", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(CultureInfo.InvariantCulture),
            "--model", dir.Combine("train", "model"), "--donefile", dir.Combine("train", "donefile"), "--work-dir", dir.Combine("serve"), "--poll-seconds", "1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await WaitUntil(http, port, s => Live(s) == baseId && ModelVersion(s) == baseId);

        // Base: AUC against the best achievable, and the served scores against the trainer's.
        var holdout = File.ReadAllLines(dir.Combine("train", "holdout.tsv"));
        var heldOut = TrainingData.HeldOutCount(Rows, 0.1);
        Assert.Equal(heldOut, holdout.Length);
        var truth = GeneratedData.ReadTruth(dir.Combine("data.tsv"), Rows - heldOut, heldOut)!;
        var labels = holdout.Select(l => l[0] == '1' ? 1 : 0).ToArray();
        var best = BinaryMetrics.Auc(truth.Select((p, i) => (p, labels[i])).ToList());
        var served = Predict(dir, port, "served-base.txt");
        var auc = BinaryMetrics.Auc(served.Select((s, i) => ((double)s, labels[i])).ToList());
        Assert.True(auc >= 0.95 * best, $"held-out AUC {auc:F4} < 0.95 × best achievable {best:F4}\n{train.Stdout}");
        AssertEqualScores(dir.Combine("train", "holdout.predictions"), served);

        // Delta: one epoch on fresh rows; the patch must hold exactly the keys those rows use.
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "8000", "--out", "fresh.tsv", "--seed", "11", "--stream", "1").Ok();
        var baseTable = ReadTable(LastEntry(dir.Combine("train", "donefile", "base.txt")).Input);
        CubeProcess.Run(dir.Path, "train", "--data", "fresh.tsv", "--out", "train", "--epochs", "1", "--delta", "--holdout", "0").Ok();
        var patch = LastEntry(dir.Combine("train", "donefile", "patch.txt"));
        Assert.Equal(baseId, patch.Key);
        var delta = ReadTable(patch.Input);
        var touched = File.ReadLines(dir.Combine("fresh.tsv"))
            .Select(l => CriteoSample.Parse(l))
            .SelectMany(s => s.Sparse.Select((token, slot) => FeatureHasher.PaddleKey(slot, token)))
            .ToHashSet();
        Assert.Equal(touched.Order(), delta.Keys.Order());
        var changed = delta.Count(kv => baseTable.TryGetValue(kv.Key, out var old) && !old.SequenceEqual(kv.Value));
        var added = delta.Keys.Count(k => !baseTable.ContainsKey(k));
        Assert.True(changed + added == delta.Count, $"{delta.Count - changed - added} delta rows equal their base rows");
        Assert.True(added > 0, "fresh rows brought no new keys; the test data is too small");

        await WaitUntil(http, port, s => Live(s) == $"{baseId}_{patch.Id}" && ModelVersion(s) == patch.Id);
        AssertEqualScores(dir.Combine("train", "holdout.predictions"), Predict(dir, port, "served-delta.txt"));

        serve.Signal("TERM");
        Assert.True(serve.WaitForExit(TimeSpan.FromSeconds(30)), "cube run --roles all did not stop on SIGTERM");
        Assert.Equal(0, serve.ExitCode);
    }

    /// <summary>The other hash scheme and a lossy codec: the transfer builds f16 because
    /// model.json says so, and the trainer's predictions use the f16-rounded rows, so served and
    /// trained still agree.</summary>
    [Fact]
    public async Task Xxh64KeysAndF16RowsAreServedAsTrained()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "20000", "--out", "data.tsv", "--seed", "12").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hash", "xxh64", "--value-codec", "f16", "--hidden", "64,64").Ok();
        var baseId = LastEntry(dir.Combine("train", "donefile", "base.txt")).Id;
        var spec = File.ReadAllText(dir.Combine("train", "model", "model.json"));
        Assert.Contains("\"hash\": \"xxh64\"", spec);
        Assert.Contains("\"value_codec\": \"f16\"", spec);

        var port = ControlPlane.FreePort();
        using var serve = ServerProcess.Start("run", "--roles", "all", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(CultureInfo.InvariantCulture),
            "--model", dir.Combine("train", "model"), "--donefile", dir.Combine("train", "donefile"), "--work-dir", dir.Combine("serve"), "--poll-seconds", "1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await WaitUntil(http, port, s => Live(s) == baseId);
        AssertEqualScores(dir.Combine("train", "holdout.predictions"), Predict(dir, port, "served.txt"));
        var manifest = Directory.GetFiles(dir.Combine("serve", "transfer", "output"), "manifest.json", SearchOption.AllDirectories).First();
        Assert.Contains("\"codec\": \"f16\"", File.ReadAllText(manifest));
    }

    /// <summary>A delta run on a bad file stops before writing anything: the error names the
    /// file and line; the checkpoint, the donefiles and the model package are as they were.</summary>
    [Fact]
    public void ABadDeltaFileChangesNothing()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "3000", "--out", "data.tsv", "--seed", "13").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hidden", "16").Ok();
        string[] kept = [Path.Combine("train", "checkpoint.bin"), Path.Combine("train", "donefile", "base.txt"), Path.Combine("train", "model", "model.onnx"), Path.Combine("train", "model", "timestamp")];
        var before = kept.Select(f => File.ReadAllBytes(dir.Combine(f))).ToList();

        var lines = File.ReadAllLines(dir.Combine("data.tsv")).Take(100).ToList();
        lines[41] = lines[41].Replace('\t', ' ');
        File.WriteAllLines(dir.Combine("bad.tsv"), lines);
        var r = CubeProcess.Run(dir.Path, "train", "--data", "bad.tsv", "--out", "train", "--delta", "--holdout", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bad.tsv: line 42", r.Stderr);
        Assert.Equal(before, kept.Select(f => File.ReadAllBytes(dir.Combine(f))));
        Assert.False(File.Exists(dir.Combine("train", "donefile", "patch.txt")));

        // cube demo never empties a directory it did not make.
        var demo = CubeProcess.Run(dir.Path, "demo", "--dir", dir.Combine("train"));
        Assert.Equal(2, demo.ExitCode);
        Assert.Contains("was not made by cube demo", demo.Stderr);
        Assert.True(File.Exists(dir.Combine("train", "checkpoint.bin")));
    }

    private static float[] Predict(TempDirectory dir, int port, string outFile)
    {
        var result = CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{port}", "--data", dir.Combine("train", "holdout.tsv"), "--batch", "64", "--connections", "2", "--out", outFile).Ok();
        Assert.Contains("refused 0", result.Stdout);
        return File.ReadAllLines(dir.Combine(outFile)).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
    }

    private static void AssertEqualScores(string trainerPredictions, float[] served)
    {
        var trainer = File.ReadAllLines(trainerPredictions).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(trainer.Length, served.Length);
        var worst = Enumerable.Range(0, served.Length).MaxBy(i => Math.Abs(served[i] - trainer[i]));
        Assert.True(Math.Abs(served[worst] - trainer[worst]) <= 1e-5, $"row {worst + 1}: served {served[worst]}, trainer {trainer[worst]}");
    }

    private static Dictionary<ulong, float[]> ReadTable(string directory)
    {
        var table = new Dictionary<ulong, float[]>();
        foreach (var file in Directory.GetFiles(directory))
        {
            using var reader = SequenceFileReader.Open(file);
            while (reader.MoveNext())
            {
                var value = reader.Value;
                var row = new float[value.Length / 4];
                for (var d = 0; d < row.Length; d++)
                {
                    row[d] = BinaryPrimitives.ReadSingleLittleEndian(value[(d * 4)..]);
                }

                table[reader.Key] = row;
            }
        }

        return table;
    }

    private static DonefileEntry LastEntry(string donefile) =>
        DonefileEntry.Parse(File.ReadLines(donefile).Last(l => l.Length > 0), donefile, 0);

    private static async Task WaitUntil(HttpClient http, int port, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string last = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            last = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/status"));
            using var doc = JsonDocument.Parse(last);
            if (done(doc.RootElement))
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"status did not reach the expected state within 60 s:\n{last}");
    }

    private static string? Live(JsonElement status) => status.GetProperty("agent").GetProperty("live_version").GetString();

    private static string? ModelVersion(JsonElement status) => status.GetProperty("engine").GetProperty("model_version").GetString();
}
