using System.Globalization;
using System.Text.Json;
using Appliance.Core.Engine;

namespace Appliance.E2E.Tests;

/// <summary>Never silently wrong, never silently stuck.</summary>
public sealed class RecoveryTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    [Fact]
    public void ASecondServerOnAPortInUseExitsOneNamingThePort()
    {
        using var first = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        var port = first.DataPort.ToString(CultureInfo.InvariantCulture);
        var second = CubeProcess.Run(table.Directory.Path, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", port, "--http-port", "0", "--data-dir", table.Packages, "--dict", ClusterFixture.Dict, "--shard", "1");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"data port {port} on 127.0.0.1 is already in use", second.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", second.Stderr, StringComparison.Ordinal);
        Assert.False(first.HasExited);

        var http = first.HttpPort.ToString(CultureInfo.InvariantCulture);
        var third = CubeProcess.Run(table.Directory.Path, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", http, "--data-dir", table.Packages, "--dict", ClusterFixture.Dict);
        Assert.Equal(1, third.ExitCode);
        Assert.Contains(http, third.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", third.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void WatchingTheDataDirectoryIsRefusedWithTheAgent()
    {
        var token = table.Directory.Combine("watch-token");
        File.WriteAllText(token, "0123456789abcdef0123\n");
        var r = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "server,agent", "--data-dir", table.Directory.Combine("agent-data"), "--dict", ClusterFixture.Dict, "--transfer", "http://127.0.0.1:8099", "--token-file", token, "--watch-seconds", "5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("option --watch-seconds: not with the agent role", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadDonefileLineFailsItsVersionAndPollingGoesOn()
    {
        using var plane = new ControlPlane();
        File.AppendAllText(plane.Directory.Combine("done", "base.txt"), "{\"id\":\"50\",\"key\":\"50\",\"input\":\"http://[bad\"}\n");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!plane.Transfer.Output.Contains("50_50 failed", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, plane.Transfer.Output);
            Thread.Sleep(100);
        }

        var history = plane.Get($"http://127.0.0.1:{plane.TransferPort}/dict/deploy/history").GetProperty("data").EnumerateArray().ToList();
        var failed = Assert.Single(history, v => v.GetProperty("version").GetString() == "50");
        Assert.Equal(255, failed.GetProperty("status").GetInt32());
        Assert.Contains("[bad", failed.GetProperty("error").GetString(), StringComparison.Ordinal);

        var polls = plane.TransferStatus().GetProperty("polls").GetInt64();
        while (plane.TransferStatus().GetProperty("polls").GetInt64() < polls + 2)
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(30), "the transfer stopped polling");
            Thread.Sleep(100);
        }

        plane.Publish("100", Enumerable.Range(0, 2000).Select(i => (ulong)i));
        plane.WaitActive("100_100");
        Assert.False(plane.Transfer.HasExited);
    }

    [Fact]
    public async Task PredictionsBeforeTheTableIsLiveAreRefusedNotScoredFromZeros()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 5, hidden: 16, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        Directory.CreateDirectory(dir.Combine("train", "donefile"));
        var port = ControlPlane.FreePort();
        using var serve = ServerProcess.Start("run", "--roles", "all", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(CultureInfo.InvariantCulture),
            "--model", dir.Combine("model"), "--donefile", dir.Combine("train", "donefile"), "--work-dir", dir.Combine("serve"), "--poll-seconds", "1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var body = JsonSerializer.Serialize(new Dictionary<string, string[]> { ["lines"] = [File.ReadLines(TestData.CriteoSample).First()] });

        using var early = await http.PostAsync($"http://127.0.0.1:{port}/predict", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(503, (int)early.StatusCode);
        var error = JsonDocument.Parse(await early.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
        Assert.Contains("waiting for the table", error, StringComparison.Ordinal);
        Assert.False(await EngineReady(http, port));

        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "2000", "--out", "table.txt", "--dim", "10").Ok();
        CubeProcess.Run(dir.Path, "kv", "from-text", "table.txt", "train", "--id", "100").Ok();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await EngineReady(http, port))
        {
            Assert.True(DateTime.UtcNow < deadline, serve.Output);
            await Task.Delay(100);
        }

        using var late = await http.PostAsync($"http://127.0.0.1:{port}/predict", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(200, (int)late.StatusCode);
    }

    [Fact]
    public async Task ARemoteEngineWhoseShardServesNothingIsNotReady()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 6, hidden: 16, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        Directory.CreateDirectory(dir.Combine("empty"));
        using var shard = ServerProcess.StartServer(dir.Combine("empty"), "emb", 0);
        File.WriteAllText(dir.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 300, "retry": 1, "backup_request": 0, "type": "ipport_list",
              "nodes": [{"ipport_list": "list://127.0.0.1:{{shard.DataPort}}"}]}]
            """);
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--conf", dir.Combine("cube.conf"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var body = JsonSerializer.Serialize(new Dictionary<string, string[]> { ["lines"] = [File.ReadLines(TestData.CriteoSample).First()] });
        using var response = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(503, (int)response.StatusCode); // the shard answers every key MISSING: zeros would be a wrong score
        Assert.False(await EngineReady(http, engine.HttpPort));
    }

    /// <summary>When the model cannot be written, the new base is not published
    /// (the donefile line is the last thing written), so no table waits for a model that never came.</summary>
    [Fact]
    public void ATrainerThatCannotWriteItsModelPublishesNothing()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "2000", "--out", "data.tsv", "--seed", "3").Ok();
        Directory.CreateDirectory(dir.Combine("train"));
        File.WriteAllText(dir.Combine("train", "model"), "a file where the model directory should go\n");
        var r = CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hidden", "8");
        Assert.Equal(1, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.Combine("train", "donefile", "base.txt")), "a base was published without its model");
    }

    /// <summary>An HTTP 500 carries a JSON error and is counted; repeats are
    /// logged once per interval with a count, not once per request.</summary>
    /// <summary>A null sample was an unhandled 500: now a 400 naming the index,
    /// and no HTTP error is counted. The 500 path itself (JSON body, counter, one log line per
    /// interval) is tested on the middleware: Hosting/HttpErrorsTests.</summary>
    [Fact]
    public async Task ANullSampleIsA400NamingItsIndexNotAnInternalError()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 7, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        Directory.CreateDirectory(dir.Combine("done"));
        var port = ControlPlane.FreePort();
        using var serve = ServerProcess.Start("run", "--roles", "all", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(CultureInfo.InvariantCulture),
            "--model", dir.Combine("model"), "--donefile", dir.Combine("done"), "--work-dir", dir.Combine("serve"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < 3; i++)
        {
            using var response = await http.PostAsync($"http://127.0.0.1:{port}/predict", new StringContent("{\"samples\": [{\"dense\": [], \"sparse\": []}, null]}", System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == 400, text);
            Assert.Contains("samples[1] is null", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
        }

        var metrics = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Equal("cube_http_errors_total 0", metrics.Split('\n').Single(l => l.StartsWith("cube_http_errors_total ", StringComparison.Ordinal)));
    }

    /// <summary>A delta keeps the value codec its base was exported for.</summary>
    [Fact]
    public void ADeltaTrainingRunKeepsTheBasesValueCodec()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "gen-data", "--rows", "2000", "--out", "data.tsv", "--seed", "4").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--hidden", "8", "--value-codec", "f16").Ok();
        CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--delta").Ok();
        Assert.Contains("\"value_codec\": \"f16\"", File.ReadAllText(dir.Combine("train", "model", "model.json")), StringComparison.Ordinal);
        var changed = CubeProcess.Run(dir.Path, "train", "--data", "data.tsv", "--out", "train", "--epochs", "1", "--delta", "--value-codec", "f32");
        Assert.Equal(2, changed.ExitCode);
        Assert.Contains("was exported for f16", changed.Stderr, StringComparison.Ordinal);
    }

    /// <summary>--check refuses a table whose rows cannot be the model's
    /// embeddings, and an engine without libonnxruntime.so beside the binary says so in one line.</summary>
    [Fact]
    public void CheckRefusesATableOfAnotherWidthAndNamesAMissingOnnxRuntime()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "500", "--out", "table.txt", "--dim", "10").Ok();
        CubeProcess.Run(dir.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "out", "--dict", "emb", "--shards", "1", "--version", "7", "--value-codec", "f32").Ok();
        ModelPackage.Write(dir.Combine("model8"), DenseNetwork.Random(seed: 8, embeddingDim: 8, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb", EmbeddingDim = 8 }, "1");
        var wrong = CubeProcess.Run(dir.Path, "run", "--check", "--roles", "engine", "--model", "model8", "--local", "--data-dir", "out");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("holds 10 floats per row (f32); model.json says embedding_dim 8", wrong.Stderr, StringComparison.Ordinal);

        ModelPackage.Write(dir.Combine("model10"), DenseNetwork.Random(seed: 9, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        Directory.CreateDirectory(dir.Combine("bin"));
        File.Copy(CubeProcess.BinaryPath, dir.Combine("bin", "cube"));
        var info = new System.Diagnostics.ProcessStartInfo(dir.Combine("bin", "cube")) { WorkingDirectory = dir.Path, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "run", "--check", "--roles", "engine", "--model", "model10", "--local", "--data-dir", "out" })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000));
        Assert.Equal(1, process.ExitCode);
        Assert.Contains("libonnxruntime.so", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static async Task<bool> EngineReady(HttpClient http, int port) =>
        JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/status")).RootElement.GetProperty("engine").GetProperty("ready").GetBoolean();
}
