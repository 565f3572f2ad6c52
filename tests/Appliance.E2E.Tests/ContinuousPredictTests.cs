using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Appliance.Core.Formats;

namespace Appliance.E2E.Tests;

/// <summary>
/// End-to-end check with real processes: <c>cube run --roles all</c> is asked for predictions in a
/// loop from its first second, through the base going live and then a stream of 50 patches, each
/// with the model the trainer re-exported beside it — published in bursts of five, so the transfer
/// rolls out several lines at once and the server merges and folds the patch layers while the
/// predictions run. Every answered sample must be the trainer's own score for the model version
/// the answer names (within 1e-5); everything else must be an explicit refusal (HTTP 503 with a
/// JSON error) — never a score from missing embeddings, from new embeddings through the old
/// network, or from a layer a merge lost.
/// </summary>
public sealed class ContinuousPredictTests
{
    private sealed record Answer(HttpStatusCode Status, int Offset, string? ModelVersion, float?[] Scores, string Body);

    private const int Patches = 50;

    private const int Burst = 5;

    [Fact]
    public async Task PredictionsFromTheFirstSecondAreExactOrRefusedAcrossTheBaseAndFiftyPatchesWithTheirModels()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "20000", "--out", "data.tsv", "--seed", "31").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hidden", "32,32").Ok();
        var baseId = LastId(dir.Combine("train", "donefile", "base.txt"));
        var holdout = File.ReadAllLines(dir.Combine("train", "holdout.tsv"));
        var expected = new Dictionary<string, float[]> { [baseId] = Scores(dir.Combine("train", "holdout.predictions")) };
        List<string> waited = [baseId];

        var port = ControlPlane.FreePort();
        using var serve = ServerProcess.Start("run", "--roles", "all", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(CultureInfo.InvariantCulture),
            "--model", dir.Combine("train", "model"), "--donefile", dir.Combine("train", "donefile"), "--work-dir", dir.Combine("serve"), "--poll-seconds", "1");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        var answers = new System.Collections.Concurrent.ConcurrentQueue<Answer>();
        using var stop = new CancellationTokenSource();
        var loops = Enumerable.Range(0, 2).Select(worker => Task.Run(async () =>
        {
            const int Batch = 40;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = worker; !stop.IsCancellationRequested && clock.Elapsed < TimeSpan.FromSeconds(300); i += 2)
            {
                var offset = i * Batch % (holdout.Length - Batch);
                using var response = await http.PostAsJsonAsync("predict", new { lines = holdout.AsSpan(offset, Batch).ToArray() });
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    answers.Enqueue(new Answer(response.StatusCode, offset, null, [], body));
                    await Task.Delay(20);
                    continue;
                }

                using var json = JsonDocument.Parse(body);
                var scores = json.RootElement.GetProperty("scores").EnumerateArray().Select(s => s.ValueKind == JsonValueKind.Null ? (float?)null : s.GetSingle()).ToArray();
                answers.Enqueue(new Answer(response.StatusCode, offset, json.RootElement.GetProperty("model_version").GetString(), scores, body));
            }
        })).ToArray();

        try
        {
            await WaitUntil(http, s => Live(s) == baseId && ModelVersion(s) == baseId);

            // Patches and their models while the loop runs: the trainer writes the model package
            // first and the donefile line last, so the engine holds the new model ready before
            // the table it needs goes live. A burst's patches may go live together (the engine
            // then skips the models between); the last of each burst is waited for.
            for (var patch = 1; patch <= Patches; patch++)
            {
                CubeProcess.Run(dir.Path, "gen-data", "--rows", "2000", "--out", "fresh.tsv", "--seed", "31", "--stream", patch.ToString(CultureInfo.InvariantCulture)).Ok();
                CubeProcess.Run(dir.Path, "train", "--data", "fresh.tsv", "--out", "train", "--epochs", "1", "--delta", "--holdout", "0").Ok();
                var patchId = LastId(dir.Combine("train", "donefile", "patch.txt"));
                expected[patchId] = Scores(dir.Combine("train", "holdout.predictions"));
                if (patch % Burst == 0)
                {
                    waited.Add(patchId);
                    await WaitUntil(http, s => Live(s) == $"{baseId}_{patchId}" && ModelVersion(s) == patchId);
                    await Task.Delay(300);
                }
            }

            using var status = JsonDocument.Parse(await http.GetStringAsync("status"));
            var server = status.RootElement.GetProperty("server");
            Assert.True(server.GetProperty("merges").GetInt32() + server.GetProperty("folds").GetInt32() > 0, $"no merge ran: {server}");
            Assert.Equal(0, server.GetProperty("merge_failures").GetInt32());
            await Task.Delay(1000);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops);
        }

        var all = answers.ToArray();
        var byModel = all.Where(a => a.Status == HttpStatusCode.OK).GroupBy(a => a.ModelVersion!).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(byModel.Keys.All(expected.ContainsKey), $"answered by models {string.Join(", ", byModel.Keys.Where(m => !expected.ContainsKey(m)))} that were never trained");
        Assert.All(waited, m => Assert.True(byModel.GetValueOrDefault(m) >= 1, $"no answer from model {m}, which was live"));
        foreach (var answer in all)
        {
            if (answer.Status != HttpStatusCode.OK)
            {
                Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, $"HTTP {(int)answer.Status}: {answer.Body}");
                Assert.StartsWith("{\"error\":", answer.Body.Replace(" ", string.Empty, StringComparison.Ordinal));
                continue;
            }

            var trainer = expected[answer.ModelVersion!];
            for (var j = 0; j < answer.Scores.Length; j++)
            {
                var served = answer.Scores[j] ?? float.NaN;
                Assert.True(Math.Abs(served - trainer[answer.Offset + j]) <= 1e-5, $"model {answer.ModelVersion}, holdout row {answer.Offset + j + 1}: served {served}, trainer {trainer[answer.Offset + j]}");
            }
        }

        Assert.True(byModel[baseId] >= 5, $"only {byModel[baseId]} answers from the base's model");
    }

    private static float[] Scores(string path) => File.ReadAllLines(path).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();

    private static string LastId(string donefile) => DonefileEntry.Parse(File.ReadLines(donefile).Last(l => l.Length > 0), donefile, 0).Id;

    private static async Task WaitUntil(HttpClient http, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        var last = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            last = await http.GetStringAsync("status");
            using var doc = JsonDocument.Parse(last);
            if (done(doc.RootElement))
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"status did not reach the expected state within 90 s:\n{last}");
    }

    private static string? Live(JsonElement status) => status.GetProperty("agent").GetProperty("live_version").GetString();

    private static string? ModelVersion(JsonElement status) => status.GetProperty("engine").GetProperty("model_version").GetString();
}
