using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Formats;
using Xunit.Abstractions;

namespace Appliance.E2E.Tests;

/// <summary>
/// The fault-injection run with real processes (scripts/fault-injection.sh prints its
/// report): a trainer publishes 10 versions (a base and 9 deltas, each with its model) to a
/// transfer and 2 shards × 2 replicas of server+agent, while lookups (through the client) and
/// predictions (a remote engine) run without pause. One fault of each kind is injected on the way:
/// a bad donefile line, a builder whose disk is full (ulimit -f), an agent SIGKILLed, the transfer
/// SIGKILLed mid-rollout, a corrupt model package. For each: did the version reach every replica,
/// how many lookups/predictions failed or were wrong, and how long until it was live.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    private sealed record Outcome(string Fault, string Version, bool EveryReplica, double SecondsToLive, long FailedLookups, long FailedPredictions, long WrongPredictions);

    private sealed class Load
    {
        public long Lookups;
        public long FailedLookups;
        public long Predictions;
        public long RefusedPredictions;
        public long WrongPredictions;
        public string? FirstWrong;

        public System.Collections.Concurrent.ConcurrentQueue<(string Model, int Offset, float[] Scores)> Deferred { get; } = new();

        /// <summary>Counts every score that is not the trainer's for the model that gave it.</summary>
        public void Verify(System.Collections.Concurrent.ConcurrentDictionary<string, float[]> expected, string model, int offset, float[] scores)
        {
            if (!expected.TryGetValue(model, out var trainer))
            {
                Interlocked.Add(ref WrongPredictions, scores.Length);
                Interlocked.CompareExchange(ref FirstWrong, $"answer from model {model}, which no training run wrote", null);
                return;
            }

            for (var j = 0; j < scores.Length; j++)
            {
                if (!(Math.Abs(scores[j] - trainer[offset + j]) <= 1e-5))
                {
                    Interlocked.Increment(ref WrongPredictions);
                    Interlocked.CompareExchange(ref FirstWrong, $"model {model}, holdout row {offset + j + 1}: served {scores[j]}, trainer {trainer[offset + j]}", null);
                }
            }
        }
    }

    [Fact]
    public async Task TenRolloutsWithOneFaultOfEachKindServeNothingWrong()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "12000", "--out", "data.tsv", "--seed", "41").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hidden", "16,16", "--dict", ControlPlane.Dict).Ok();
        var holdout = File.ReadAllLines(dir.Combine("train", "holdout.tsv"));
        var expected = new System.Collections.Concurrent.ConcurrentDictionary<string, float[]>();
        var baseId = LastId(dir.Combine("train", "donefile", "base.txt"));
        expected[baseId] = Scores(dir.Combine("train", "holdout.predictions"));

        using var plane = new ControlPlane(dir.Combine("train", "donefile"), 20_000, "value_codec: f32");
        var conf = dir.Combine("cube.conf");
        File.WriteAllText(conf, plane.ClientConfJson());
        plane.WaitActive($"{baseId}_{baseId}", TimeSpan.FromSeconds(90));
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("train", "model"), "--conf", conf, "--on-shard-failure", "error");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        await using var client = new CubeClient(CubeConfReader.Read(conf));

        var load = new Load();
        using var stop = new CancellationTokenSource();
        var keys = LiveKeys(dir.Combine("train"));
        var loops = new[] { Task.Run(() => LookupLoopAsync(client, keys, load, stop.Token)), Task.Run(() => PredictLoopAsync(http, holdout, expected, load, stop.Token)) };
        var outcomes = new List<Outcome>();
        var patch = 0;
        var note = string.Empty;

        async Task Rollout(string fault, Func<Task>? before = null, Func<Task>? during = null)
        {
            var (lookupsBefore, predictionsBefore, wrongBefore) = (Interlocked.Read(ref load.FailedLookups), Interlocked.Read(ref load.RefusedPredictions), Interlocked.Read(ref load.WrongPredictions));
            if (before is not null)
            {
                await before();
            }

            patch++;
            CubeProcess.Run(dir.Path, "gen-data", "--rows", "1500", "--out", "fresh.tsv", "--seed", "41", "--stream", patch.ToString(CultureInfo.InvariantCulture)).Ok();
            CubeProcess.Run(dir.Path, "train", "--data", "fresh.tsv", "--out", "train", "--epochs", "1", "--delta", "--holdout", "0").Ok();
            var id = LastId(dir.Combine("train", "donefile", "patch.txt"));
            expected[id] = Scores(dir.Combine("train", "holdout.predictions"));
            var clock = Stopwatch.StartNew();
            if (during is not null)
            {
                await during();
            }

            await plane.WaitActiveAsync($"{baseId}_{id}", TimeSpan.FromSeconds(120));
            var seconds = clock.Elapsed.TotalSeconds;
            var everywhere = await EveryReplicaServesAsync(plane, $"{baseId}_{id}", TimeSpan.FromSeconds(60));
            outcomes.Add(new Outcome(fault + note, $"{baseId}_{id}", everywhere, seconds,
                Interlocked.Read(ref load.FailedLookups) - lookupsBefore, Interlocked.Read(ref load.RefusedPredictions) - predictionsBefore, Interlocked.Read(ref load.WrongPredictions) - wrongBefore));
            note = string.Empty;
        }

        try
        {
            await Rollout("none");
            await Rollout("bad donefile line", before: () =>
            {
                File.AppendAllText(dir.Combine("train", "donefile", "patch.txt"), "{\"id\":\"50\",\"key\":\"50\",\"input\":\"http://[bad\"}\nnot json at all\n");
                return Task.CompletedTask;
            });
            await Rollout("builder disk full (ulimit -f 64 KiB)", before: () =>
            {
                plane.RestartTransfer(fileSizeLimitKb: 64);
                return Task.CompletedTask;
            }, during: async () =>
            {
                await WaitForAsync(() => plane.TransferStatus().GetProperty("versions_failed").GetInt32() > 0, TimeSpan.FromSeconds(60));
                plane.RestartTransfer(); // the operator frees the disk
            });
            await Rollout("none");
            await Rollout("agent SIGKILL (shard 1 replica 0)", before: () =>
            {
                plane.Agents[1][0].Signal("KILL");
                plane.Agents[1][0].WaitForExit(TimeSpan.FromSeconds(10));
                return Task.CompletedTask;
            }, during: async () =>
            {
                await WaitForAsync(() => plane.TransferStatus().GetProperty("current_version").GetString()!.EndsWith($"_{LastId(dir.Combine("train", "donefile", "patch.txt"))}", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
                plane.RestartAgent(1, 0);
            });
            await Rollout("transfer SIGKILL mid-rollout", during: async () =>
            {
                // Killed as soon as the rollout is seen in progress (or, if it was quicker than
                // the poll, just after).
                var id = LastId(dir.Combine("train", "donefile", "patch.txt"));
                await WaitForAsync(() => plane.TransferStatus() is var t && (t.GetProperty("in_progress").ValueKind == JsonValueKind.String || t.GetProperty("current_version").GetString()!.EndsWith($"_{id}", StringComparison.Ordinal)), TimeSpan.FromSeconds(30));
                var at = plane.TransferStatus().GetProperty("in_progress_status");
                note = at.ValueKind == JsonValueKind.String ? $" (killed at step '{at.GetString()}')" : " (killed just after the rollout)";
                plane.Transfer.Signal("KILL");
                plane.Transfer.WaitForExit(TimeSpan.FromSeconds(10));
                plane.RestartTransfer();
            });
            await Rollout("corrupt model package", before: async () =>
            {
                File.WriteAllBytes(dir.Combine("train", "model", "model.onnx"), Encoding.ASCII.GetBytes("not an onnx graph"));
                File.WriteAllText(dir.Combine("train", "model", "timestamp"), "1\n");
                await WaitForAsync(() => plane.Get($"http://127.0.0.1:{engine.HttpPort}/status").GetProperty("engine").GetProperty("reload_failures").GetInt64() > 0, TimeSpan.FromSeconds(30));
            });
            await Rollout("none");
            await Rollout("none");
            await Task.Delay(1000);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops);
        }

        foreach (var (model, offset, scores) in load.Deferred)
        {
            load.Verify(expected, model, offset, scores);
        }

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"| fault | version | on every replica | seconds from publish to live | failed lookups | refused predictions | wrong predictions |");
        report.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var o in outcomes)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {o.Fault} | {o.Version} | {(o.EveryReplica ? "yes" : "NO")} | {o.SecondsToLive:F1} | {o.FailedLookups} | {o.FailedPredictions} | {o.WrongPredictions} |");
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"\ntotal: {load.Lookups} lookup batches ({load.FailedLookups} failed keys), {load.Predictions} predict requests ({load.RefusedPredictions} refused, {load.WrongPredictions} wrong samples)");
        report.AppendLine(CultureInfo.InvariantCulture, $"engine reload failures (the corrupt package): {plane.Get($"http://127.0.0.1:{engine.HttpPort}/status").GetProperty("engine").GetProperty("reload_failures").GetInt64()}");
        output.WriteLine(report.ToString());
        if (Environment.GetEnvironmentVariable("CUBE_FAULT_REPORT") is { Length: > 0 } path)
        {
            File.WriteAllText(path, report.ToString());
        }

        Assert.True(load.WrongPredictions == 0, $"wrong predictions: {load.FirstWrong}\n{report}");
        Assert.Equal(9, outcomes.Count);
        Assert.All(outcomes, o => Assert.True(o.EveryReplica, $"{o.Version} ({o.Fault}) did not reach every replica\n{report}"));
        Assert.True(load.Predictions > 50 && load.Lookups > 50, report.ToString());
    }

    private static async Task LookupLoopAsync(CubeClient client, ulong[] keys, Load load, CancellationToken stop)
    {
        var random = new Random(1);
        var batch = new ulong[100];
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i] = keys[random.Next(keys.Length)];
            }

            using var result = await client.LookupAsync(ControlPlane.Dict, batch, CancellationToken.None);
            Interlocked.Add(ref load.FailedLookups, result.FailedKeys);
            Interlocked.Increment(ref load.Lookups);
            await Task.Delay(5, CancellationToken.None);
        }
    }

    /// <summary>Each answer must be the trainer's score for the model version it names; a refusal
    /// (503) is counted; anything else is wrong.</summary>
    private static async Task PredictLoopAsync(HttpClient http, string[] holdout, System.Collections.Concurrent.ConcurrentDictionary<string, float[]> expected, Load load, CancellationToken stop)
    {
        const int Batch = 40;
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var offset = i * Batch % (holdout.Length - Batch);
            Interlocked.Increment(ref load.Predictions);
            try
            {
                using var response = await http.PostAsJsonAsync("predict", new { lines = holdout.AsSpan(offset, Batch).ToArray() }, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref load.RefusedPredictions);
                    await Task.Delay(20, CancellationToken.None);
                    continue;
                }

                using var json = JsonDocument.Parse(body);
                var model = json.RootElement.GetProperty("model_version").GetString()!;
                var scores = json.RootElement.GetProperty("scores").EnumerateArray().Select(s => s.ValueKind == JsonValueKind.Null ? float.NaN : s.GetSingle()).ToArray();
                if (!expected.TryGetValue(model, out _))
                {
                    // The engine may answer with a model before this test has read that training
                    // run's predictions (the trainer publishes, then exits): checked at the end.
                    load.Deferred.Enqueue((model, offset, scores));
                    continue;
                }

                load.Verify(expected, model, offset, scores);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
            {
                Interlocked.Increment(ref load.RefusedPredictions);
            }
        }
    }

    private static async Task<bool> EveryReplicaServesAsync(ControlPlane plane, string label, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var want = label.Split('_') is [var b, var v] && b == v ? b : label;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (plane.Agents.SelectMany(r => r).All(a => plane.Get($"http://127.0.0.1:{a.HttpPort}/agent/status").GetProperty("live_version").GetString() == want))
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // a replica restarting
            }

            await Task.Delay(200);
        }

        return false;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // restarting
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the fault's condition was not reached in time");
    }

    /// <summary>Keys of the base table (what the lookups ask for).</summary>
    private static ulong[] LiveKeys(string trainDir)
    {
        var input = DonefileEntry.Parse(File.ReadLines(Path.Combine(trainDir, "donefile", "base.txt")).Last(l => l.Length > 0), "base.txt", 0).Input;
        var keys = new List<ulong>();
        foreach (var file in Directory.GetFiles(input))
        {
            using var reader = SequenceFileReader.Open(file);
            while (reader.MoveNext() && keys.Count < 50_000)
            {
                keys.Add(reader.Key);
            }
        }

        return [.. keys];
    }

    private static float[] Scores(string path) => File.ReadAllLines(path).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();

    private static string LastId(string donefile) => DonefileEntry.Parse(File.ReadLines(donefile).Last(l => l.Length > 0), donefile, 0).Id;
}
