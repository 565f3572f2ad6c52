using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;

namespace Appliance.E2E.Tests;

/// <summary>The engine role through the real binary, local shards: scores of the real Criteo sample
/// equal a plain C# forward pass; the model reloads under load without a failed request; a bad
/// package is refused while the live one keeps serving.</summary>
public sealed class EngineTests
{
    /// <summary>An embedding table for every key of the sample, built into 2 shards under dir/out.</summary>
    internal static (List<CriteoSample> Samples, Dictionary<ulong, float[]> Table) BuildTable(TempDirectory dir)
    {
        var samples = File.ReadAllLines(TestData.CriteoSample).Select(l => CriteoSample.Parse(l)).ToList();
        var table = new Dictionary<ulong, float[]>();
        var random = new Random(5);
        Directory.CreateDirectory(dir.Combine("in"));
        using (var writer = SequenceFileWriter.Create(dir.Combine("in", "part-00000"), seed: 2))
        {
            var row = new byte[40];
            foreach (var key in samples.SelectMany(s => s.Sparse.Select((t, slot) => FeatureHasher.PaddleKey(slot, t))).Distinct())
            {
                var v = Enumerable.Range(0, 10).Select(_ => (random.NextSingle() * 2) - 1).ToArray();
                for (var d = 0; d < 10; d++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(d * 4), v[d]);
                }

                writer.Write(key, row);
                table[key] = v;
            }
        }

        CubeProcess.Run(dir.Path, "build", "--input", "in", "--output", "out", "--dict", "emb", "--shards", "2", "--version", "1", "--value-codec", "f32").Ok();
        return (samples, table);
    }

    [Fact]
    public async Task ScoresEqualTheForwardPassAndTheModelReloadsUnderLoad()
    {
        using var dir = new TempDirectory();
        var (samples, table) = BuildTable(dir);
        var first = DenseNetwork.Random(seed: 21);
        ModelPackage.Write(dir.Combine("model"), first, new ModelSpec { Dict = "emb" }, "1");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        var address = $"127.0.0.1:{engine.HttpPort}";

        var predicted = CubeProcess.Run(dir.Path, "predict", "--engine", address, "--data", TestData.CriteoSample, "--batch", "50", "--connections", "2", "--out", "scores.txt").Ok();
        Assert.Contains("samples  1000  scored 1000  refused 0", predicted.Stdout);
        AssertScores(dir.Combine("scores.txt"), first, samples, table);

        // The same file scored in process (the baseline an engine is measured against): same scores.
        var local = CubeProcess.Run(dir.Path, "predict", "--in-process", "--model-dir", "model", "--data-dir", "out", "--data", TestData.CriteoSample, "--batch", "32", "--out", "scores-local.txt").Ok();
        Assert.Contains("samples  1000  scored 1000  refused 0  (batch 32, in process, one thread)", local.Stdout);
        AssertScores(dir.Combine("scores-local.txt"), first, samples, table);

        // Reload under load: a client keeps predicting while a new package is written.
        using var load = new CancellationTokenSource();
        var loadTask = Task.Run(() =>
        {
            var runs = new List<CubeProcess.Result>();
            while (!load.IsCancellationRequested && runs.Count < 50)
            {
                runs.Add(CubeProcess.Run(dir.Path, "predict", "--engine", address, "--data", TestData.CriteoSample, "--batch", "100", "--connections", "2"));
            }

            return runs;
        });
        var second = DenseNetwork.Random(seed: 22);
        ModelPackage.Write(dir.Combine("model"), second, new ModelSpec { Dict = "emb" }, "2");
        await WaitForVersion(address, "2");
        await load.CancelAsync();
        var results = await loadTask;
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.True(r.ExitCode == 0 && r.Stdout.Contains("refused 0", StringComparison.Ordinal), r.Stdout + r.Stderr));
        CubeProcess.Run(dir.Path, "predict", "--engine", address, "--data", TestData.CriteoSample, "--out", "scores2.txt").Ok();
        AssertScores(dir.Combine("scores2.txt"), second, samples, table);

        // A corrupt package is refused; version 2 keeps serving.
        File.WriteAllBytes(dir.Combine("model", "model.onnx"), [1, 2, 3]);
        File.WriteAllText(dir.Combine("model", "timestamp"), "3\n");
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement status;
        do
        {
            await Task.Delay(200);
            status = JsonDocument.Parse(await http.GetStringAsync($"http://{address}/status")).RootElement.GetProperty("engine");
        }
        while (status.GetProperty("reload_failures").GetInt64() == 0 && DateTime.UtcNow < deadline);
        Assert.Equal("2", status.GetProperty("model_version").GetString());
        Assert.Contains("ONNX Runtime refused the model", status.GetProperty("last_reload_error").GetString());
        // What cube status shows per engine: the recent request rate and p99 (predicts were made above).
        Assert.True(status.GetProperty("requests_per_second").GetDouble() > 0, status.ToString());
        Assert.True(status.GetProperty("predict_p99_seconds").GetDouble() > 0, status.ToString());
        CubeProcess.Run(dir.Path, "predict", "--engine", address, "--data", TestData.CriteoSample, "--out", "scores3.txt").Ok();
        AssertScores(dir.Combine("scores3.txt"), second, samples, table);
    }

    [Fact]
    public void RemoteShardsGiveTheSameScoresAndAnUnreachableShardFollowsThePolicy()
    {
        using var dir = new TempDirectory();
        var (samples, table) = BuildTable(dir);
        var network = DenseNetwork.Random(seed: 31);
        ModelPackage.Write(dir.Combine("model"), network, new ModelSpec { Dict = "emb" }, "1");
        using var shard0 = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);
        using var shard1 = ServerProcess.StartServer(dir.Combine("out"), "emb", 1);
        File.WriteAllText(dir.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 2, "dup": 1, "timeout": 300, "retry": 1, "backup_request": 0, "type": "ipport_list",
              "nodes": [{"ipport_list": "list://127.0.0.1:{{shard0.DataPort}}"}, {"ipport_list": "list://127.0.0.1:{{shard1.DataPort}}"}]}]
            """);
        using var zero = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--conf", dir.Combine("cube.conf"));
        using var strict = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--conf", dir.Combine("cube.conf"), "--on-shard-failure", "error");
        CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{zero.HttpPort}", "--data", TestData.CriteoSample, "--batch", "64", "--out", "remote.txt").Ok();
        AssertScores(dir.Combine("remote.txt"), network, samples, table);

        shard1.Signal("KILL");
        shard1.WaitForExit(TimeSpan.FromSeconds(10));
        var started = DateTime.UtcNow;
        var degraded = CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{zero.HttpPort}", "--data", TestData.CriteoSample, "--batch", "200", "--out", "degraded.txt").Ok();
        Assert.Contains("refused 0", degraded.Stdout); // policy zero: shard 1's embeddings are zero vectors…
        Assert.Contains("1000 sample(s) scored with zero vectors for keys of a failed shard", degraded.Stderr); // …and it says so
        var engineStatus = JsonDocument.Parse(HttpGet($"http://127.0.0.1:{zero.HttpPort}/status")).RootElement.GetProperty("engine");
        Assert.True(engineStatus.GetProperty("unavailable_keys").GetInt64() > 0, engineStatus.ToString());
        Assert.Matches("cube_engine_degraded_batches_total [1-9]", HttpGet($"http://127.0.0.1:{zero.HttpPort}/metrics"));
        var failing = CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{strict.HttpPort}", "--data", TestData.CriteoSample, "--batch", "200", "--out", "strict.txt");
        Assert.Equal(1, failing.ExitCode);
        Assert.Contains("HTTP 503", File.ReadAllText(dir.Combine("strict.txt")));
        Assert.Contains("shard 1", File.ReadAllText(dir.Combine("strict.txt")));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), "requests must not hang past the client timeout");

        // With shard 1 zeroed, the scores are those of the forward pass with zero vectors for its keys.
        var zeroed = table.ToDictionary(kv => kv.Key, kv => kv.Key % 2 == 1 ? new float[10] : kv.Value);
        AssertScores(dir.Combine("degraded.txt"), network, samples, zeroed);
    }

    [Fact]
    public async Task VariantsShareTrafficByWeightAndCanBeNamed()
    {
        using var dir = new TempDirectory();
        BuildTable(dir);
        ModelPackage.Write(dir.Combine("a"), DenseNetwork.Random(seed: 41), new ModelSpec { Dict = "emb" }, "10");
        ModelPackage.Write(dir.Combine("b"), DenseNetwork.Random(seed: 42), new ModelSpec { Dict = "emb" }, "20");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", $"{dir.Combine("a")}:3,{dir.Combine("b")}:1", "--local", "--data-dir", dir.Combine("out"), "--max-batch", "1");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/") };
        var line = File.ReadLines(TestData.CriteoSample).First();
        var seen = new Dictionary<string, HashSet<float>>();
        for (var i = 0; i < 200; i++)
        {
            using var response = await http.PostAsync("predict", new StringContent(JsonSerializer.Serialize(new { lines = new[] { line } }), System.Text.Encoding.UTF8, "application/json"));
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var variant = body.RootElement.GetProperty("variant").GetString()!;
            (seen.TryGetValue(variant, out var scores) ? scores : seen[variant] = []).Add(body.RootElement.GetProperty("scores")[0].GetSingle());
        }

        Assert.Equal(["a", "b"], seen.Keys.Order());
        Assert.All(seen.Values, scores => Assert.Single(scores)); // each variant scores consistently, differently from the other
        Assert.NotEqual(seen["a"].Single(), seen["b"].Single());
        using var status = JsonDocument.Parse(await http.GetStringAsync("status"));
        var variants = status.RootElement.GetProperty("engine").GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("requests").GetInt64());
        Assert.Equal(200, variants["a"] + variants["b"]);
        Assert.InRange(variants["a"], 110, 190); // weight 3:1 → 150 expected
        using var forced = await http.PostAsync("predict", new StringContent(JsonSerializer.Serialize(new { lines = new[] { line }, variant = "b" }), System.Text.Encoding.UTF8, "application/json"));
        using var forcedBody = JsonDocument.Parse(await forced.Content.ReadAsStringAsync());
        Assert.Equal(seen["b"].Single(), forcedBody.RootElement.GetProperty("scores")[0].GetSingle());
    }

    [Fact]
    public async Task ThePredictOpcodeAnswersLikeHttpWithPipelining()
    {
        using var dir = new TempDirectory();
        BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 51), new ModelSpec { Dict = "emb" }, "5");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        var lines = File.ReadLines(TestData.CriteoSample).Take(40).Append("not a sample").ToList();
        using var http = new HttpClient();
        using var httpResponse = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(JsonSerializer.Serialize(new { lines }), System.Text.Encoding.UTF8, "application/json"));
        using var httpBody = JsonDocument.Parse(await httpResponse.Content.ReadAsStringAsync());
        var expected = httpBody.RootElement.GetProperty("scores").EnumerateArray().Select(s => s.ValueKind == JsonValueKind.Null ? float.NaN : s.GetSingle()).ToArray();

        await using var connection = await Appliance.Core.Client.ClientConnection.ConnectAsync(new Appliance.Core.Net.NodeAddress("127.0.0.1", engine.DataPort), TimeSpan.FromSeconds(5), CancellationToken.None);
        var calls = Enumerable.Range(0, 8).Select(i => connection.SendAsync(i, (buffer, id, _) => Appliance.Core.Protocol.PredictCodec.WriteRequest(buffer, id, string.Empty, lines))).ToArray();
        foreach (var call in calls)
        {
            using var reply = (await call).EnsureSuccess("engine");
            var (version, variant, scores, errors) = Appliance.Core.Protocol.PredictCodec.ReadResponse(reply.Payload);
            Assert.Equal(("5", "model"), (version, variant));
            Assert.Equal(expected.Length, scores.Length);
            for (var i = 0; i < scores.Length - 1; i++)
            {
                Assert.Equal(expected[i], scores[i]);
            }

            Assert.True(float.IsNaN(scores[^1]));
            Assert.Contains("fields", errors[lines.Count - 1]);
        }
    }

    /// <summary>A 9 MB body of empty lines (7.9 s of CPU and 430 MB before) is
    /// refused from its size; more samples than --max-samples are refused whole, over HTTP and on
    /// the opcode, with the flag named; the engine answers the next request as before.</summary>
    [Fact]
    public async Task OversizedPredictRequestsAreRefusedBeforeTheyCostAnything()
    {
        using var dir = new TempDirectory();
        BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 52), new ModelSpec { Dict = "emb" }, "6");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"), "--max-samples", "100", "--max-body-mb", "2");
        using var http = new HttpClient();
        // The headers announce 9 MB; the engine answers 413 without reading the body.
        using (var raw = new System.Net.Sockets.TcpClient("127.0.0.1", engine.HttpPort))
        {
            var stream = raw.GetStream();
            var head = $"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {9_000_000}\r\n\r\n{{\"lines\": [\"\",\"\",";
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
            var reply = new byte[4096];
            var text = string.Empty;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!text.Contains("max-body-mb", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                var n = await stream.ReadAsync(reply).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                if (n == 0)
                {
                    break;
                }

                text += System.Text.Encoding.ASCII.GetString(reply, 0, n);
            }

            Assert.StartsWith("HTTP/1.1 413", text);
            Assert.Contains("--max-body-mb", text);
        }

        // Chunked (no Content-Length: the pooled reader grows its buffer as it reads): refused at
        // the limit as well, not buffered without end.
        using (var chunked = new StreamContent(new MemoryStream(new byte[2_500_000])))
        {
            chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{engine.HttpPort}/predict") { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            using var refused = await http.SendAsync(request);
            Assert.Equal(413, (int)refused.StatusCode);
            Assert.Contains("--max-body-mb", await refused.Content.ReadAsStringAsync());
        }

        var lines = File.ReadLines(TestData.CriteoSample).Take(101).ToList();
        using (var many = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(JsonSerializer.Serialize(new { lines }), System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, many.StatusCode);
            Assert.Contains("more than 100 samples; at most 100 per request (--max-samples)", await many.Content.ReadAsStringAsync());
        }

        await using var connection = await Appliance.Core.Client.ClientConnection.ConnectAsync(new Appliance.Core.Net.NodeAddress("127.0.0.1", engine.DataPort), TimeSpan.FromSeconds(5), CancellationToken.None);
        using (var reply = await connection.SendAsync(1, (buffer, id, _) => Appliance.Core.Protocol.PredictCodec.WriteRequest(buffer, id, string.Empty, lines)))
        {
            Assert.True(reply.Header.IsError);
            Assert.Contains("at most 100 per request", Appliance.Core.Protocol.ErrorPayload.Read(reply.Payload).Item2);
        }

        using var ok = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(JsonSerializer.Serialize(new { lines = lines.Take(100) }), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
    }

    /// <summary>A sample the network scores as NaN/∞ (a dense value beyond
    /// float32) fails alone; the request is answered with the other samples' scores.</summary>
    [Fact]
    public async Task ANonFiniteScoreFailsOnlyItsSample()
    {
        using var dir = new TempDirectory();
        BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 53), new ModelSpec { Dict = "emb" }, "7");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        var lines = File.ReadLines(TestData.CriteoSample).Take(3).ToList();
        var fields = lines[0].Split('\t');
        fields[0] = "1e300";
        lines.Add(string.Join('\t', fields));
        using var http = new HttpClient();
        using var response = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(JsonSerializer.Serialize(new { lines }), System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, text);
        using var body = JsonDocument.Parse(text);
        var scores = body.RootElement.GetProperty("scores").EnumerateArray().ToArray();
        Assert.All(scores[..3], s => Assert.Equal(JsonValueKind.Number, s.ValueKind));
        Assert.Equal(JsonValueKind.Null, scores[3].ValueKind);
        Assert.Contains("non-finite score", body.RootElement.GetProperty("errors")[3].GetString());
    }

    private static async Task WaitForVersion(string address, string version)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://{address}/status"));
            if (doc.RootElement.GetProperty("engine").GetProperty("model_version").GetString() == version)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"model {version} not live");
    }

    private static void AssertScores(string path, DenseNetwork network, List<CriteoSample> samples, Dictionary<ulong, float[]> table)
    {
        var dense = new float[samples.Count * 13];
        var embeddings = new float[samples.Count * 260];
        for (var i = 0; i < samples.Count; i++)
        {
            DenseNormalizer.Criteo.Normalize(samples[i].Dense, dense.AsSpan(i * 13, 13));
            for (var s = 0; s < 26; s++)
            {
                table[FeatureHasher.PaddleKey(s, samples[i].Sparse[s])].CopyTo(embeddings, (i * 260) + (s * 10));
            }
        }

        var expected = network.Forward(embeddings, dense, samples.Count);
        var actual = File.ReadAllLines(path).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(samples.Count, actual.Length);
        var worst = actual.Select((a, i) => Math.Abs(a - expected[(i * 2) + 1])).Max();
        Assert.True(worst <= 1e-5, $"largest difference {worst}");
    }

    private static string HttpGet(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return http.Send(new HttpRequestMessage(HttpMethod.Get, url)).Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }
}
