using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Appliance.Core.Engine;

namespace Appliance.E2E.Tests;

/// <summary>
/// The engine's gRPC port against a client nobody here wrote the server for:
/// tests/clients/oip_grpc.py compiles KServe's grpc_predict_v2.proto and gRPC's health.proto with
/// Debian's protoc and calls every method with Debian's grpcio. Lines and dense + sparse tensors,
/// in contents and in raw_input_contents, score bit for bit what /predict scores; every error
/// code (NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE); the health service for
/// a ready and a not-ready engine; per-method metrics; and cube predict --protocol grpc.
/// </summary>
public sealed class GrpcTests
{
    private const string Python = "/usr/bin/python3"; // Debian's, where python3-grpcio installs

    [Fact]
    public async Task EveryMethodBothContentFormsAndEveryErrorAgainstAnIndependentClient()
    {
        using var dir = new TempDirectory();
        EngineTests.BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 61), new ModelSpec { Dict = "emb" }, "7");
        var grpcPort = ControlPlane.FreePort();
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--grpc-port", Text(grpcPort), "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"), "--max-samples", "100", "--grpc-max-message-mb", "1");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/") };
        var lines = File.ReadLines(TestData.CriteoSample).Take(64).ToList();
        File.WriteAllLines(dir.Combine("lines.txt"), lines);
        using var predict = await http.PostAsJsonAsync("predict", new PredictRequest { Lines = lines }, EngineJsonContext.Default.PredictRequest);
        var expected = (await predict.Content.ReadFromJsonAsync(EngineJsonContext.Default.PredictResponse))!.Scores.Select(s => (long)BitConverter.SingleToUInt32Bits(s!.Value)).ToArray();

        var answer = Client("all", grpcPort, dir.Combine("lines.txt"), "100", Text(1 << 20));
        Assert.True(answer.GetProperty("live").GetBoolean());
        Assert.True(answer.GetProperty("ready").GetBoolean());
        Assert.True(answer.GetProperty("model_ready").GetBoolean());
        Assert.Equal("cube-appliance", answer.GetProperty("server_metadata").GetProperty("name").GetString());
        var metadata = answer.GetProperty("model_metadata");
        Assert.Equal("7", metadata.GetProperty("versions")[0].GetString());
        Assert.Equal("""[["lines","BYTES",[-1]],["dense","FP32",[-1,13]],["sparse","BYTES",[-1,26]]]""", metadata.GetProperty("inputs").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));
        Assert.Equal("""[["prob","FP32",[-1,1]]]""", metadata.GetProperty("outputs").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));

        // Bit for bit /predict's, in every form.
        foreach (var form in new[] { "lines_contents", "lines_raw", "tensors_contents", "tensors_raw" })
        {
            Assert.True(expected.SequenceEqual(answer.GetProperty(form).EnumerateArray().Select(e => e.GetInt64())), form);
        }

        Assert.Equal(expected.Take(3), answer.GetProperty("with_version").EnumerateArray().Select(e => e.GetInt64()));
        var contents = answer.GetProperty("lines_contents_answer");
        Assert.Equal(("req-1", "model", "7", 0), (contents.GetProperty("id").GetString(), contents.GetProperty("model_name").GetString(), contents.GetProperty("model_version").GetString(), contents.GetProperty("raw_outputs").GetInt32()));
        Assert.Equal("""["prob","FP32",[64,1]]""", contents.GetProperty("output").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));
        Assert.Equal(1, answer.GetProperty("lines_raw_answer").GetProperty("raw_outputs").GetInt32());

        // Errors: the code, and the REST endpoint's message.
        var errors = answer.GetProperty("errors");
        AssertError(errors, "unknown_model", "NOT_FOUND", "no model 'nope' (models: model)");
        AssertError(errors, "unknown_version", "NOT_FOUND", "version '1' is not loaded (the live version is 7)");
        AssertError(errors, "model_ready_unknown", "NOT_FOUND", "no model 'nope'");
        AssertError(errors, "bad_datatype", "INVALID_ARGUMENT", "datatype INT32 is not taken");
        AssertError(errors, "bad_shape", "INVALID_ARGUMENT", "shape [3] needs 3 value(s), contents has 2");
        AssertError(errors, "bad_raw_length", "INVALID_ARGUMENT", "input lines:");
        AssertError(errors, "bad_utf8", "INVALID_ARGUMENT", "element 0 is not valid UTF-8");
        AssertError(errors, "over_samples", "RESOURCE_EXHAUSTED", "101 samples; at most 100 per request (--max-samples)");
        AssertError(errors, "over_message_size", "RESOURCE_EXHAUSTED", string.Empty);

        var health = answer.GetProperty("health");
        Assert.Equal(("SERVING", "SERVING", "NOT_FOUND", "SERVING", "SERVICE_UNKNOWN"), (health.GetProperty("check").GetString(), health.GetProperty("check_inference").GetString(), health.GetProperty("check_unknown").GetString(), health.GetProperty("watch_first").GetString(), health.GetProperty("watch_unknown_first").GetString()));

        // Per-method counts by code, and latency, on the HTTP port's /metrics.
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("cube_engine_grpc_requests_total{method=\"ModelInfer\",code=\"OK\"} 5", metrics, StringComparison.Ordinal);
        Assert.Contains("cube_engine_grpc_requests_total{method=\"ModelInfer\",code=\"NotFound\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("cube_engine_grpc_requests_total{method=\"ModelInfer\",code=\"ResourceExhausted\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("cube_engine_grpc_request_duration_seconds_count{method=\"ModelInfer\"}", metrics, StringComparison.Ordinal);

        // Our own client: cube predict --protocol grpc scores the same.
        var run = CubeProcess.Run(dir.Path, "predict", "--engine", $"127.0.0.1:{grpcPort}", "--protocol", "grpc", "--model", "model", "--data", dir.Combine("lines.txt"), "--batch", "16", "--connections", "2", "--out", dir.Combine("scores.txt"));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Equal(expected, File.ReadAllLines(dir.Combine("scores.txt")).Select(l => (long)BitConverter.SingleToUInt32Bits(float.Parse(l, CultureInfo.InvariantCulture))));
    }

    [Fact]
    public void ANotReadyEngineIsUnavailableAndNotServingUntilItsTableIsLive()
    {
        using var dir = new TempDirectory();
        using var shard = OipTests.StartEmptyCluster(dir, seed: 62);
        var grpcPort = ControlPlane.FreePort();
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--grpc-port", Text(grpcPort), "--model", dir.Combine("model"), "--conf", dir.Combine("cube.conf"));
        File.WriteAllLines(dir.Combine("lines.txt"), File.ReadLines(TestData.CriteoSample).Take(1));
        var answer = Client("notready", grpcPort, dir.Combine("lines.txt"));
        Assert.False(answer.GetProperty("ready").GetBoolean());
        AssertError(answer, "infer", "UNAVAILABLE", "waiting for the table");
        Assert.Equal(("NOT_SERVING", "NOT_SERVING"), (answer.GetProperty("health_check").GetString(), answer.GetProperty("watch_first").GetString()));
    }

    /// <summary>A probe's Watch stream open when the engine is told to stop: it hears NOT_SERVING
    /// and ends, and the engine drains and exits 0 (the stream held the drain up before, until
    /// the host's timeout cut it off without a word).</summary>
    [Fact]
    public async Task SigtermTellsAWatchNotServingAndEndsIt()
    {
        using var dir = new TempDirectory();
        EngineTests.BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 64), new ModelSpec { Dict = "emb" }, "1");
        var grpcPort = ControlPlane.FreePort();
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--grpc-port", Text(grpcPort), "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        var protos = Path.Combine(TestData.RepositoryRoot, "src", "Appliance.Core", "Engine", "Grpc");
        var info = new System.Diagnostics.ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(TestData.RepositoryRoot, "tests", "clients", "oip_grpc.py"), "watch", protos, $"127.0.0.1:{grpcPort}" })
        {
            info.ArgumentList.Add(arg);
        }

        using var watcher = System.Diagnostics.Process.Start(info)!;
        try
        {
            var first = await watcher.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("SERVING", first);
            engine.Signal("TERM");
            var rest = await watcher.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(["NOT_SERVING", "END OK"], rest.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(engine.WaitForExit(TimeSpan.FromSeconds(30)), "the engine did not exit");
            Assert.Equal(0, engine.ExitCode);
        }
        finally
        {
            if (!watcher.HasExited)
            {
                watcher.Kill();
            }
        }
    }

    [Fact]
    public void AGrpcPortInUseIsNamedAndTheEngineDoesNotStart()
    {
        using var dir = new TempDirectory();
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 63), new ModelSpec { Dict = "emb" }, "1");
        EngineTests.BuildTable(dir);
        var run = CubeProcess.Run(dir.Path, "run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--grpc-port", Text(taken), "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"gRPC port {taken} on 127.0.0.1 is already in use", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("--grpc-port", run.Stderr, StringComparison.Ordinal);
    }

    private static void AssertError(JsonElement errors, string name, string code, string message)
    {
        var error = errors.GetProperty(name);
        Assert.True(error[0].GetString() == code && error[1].GetString()!.Contains(message, StringComparison.Ordinal), $"{name}: {error.GetRawText()}");
    }

    private static JsonElement Client(string command, int port, string lines, params string[] extra)
    {
        var protos = Path.Combine(TestData.RepositoryRoot, "src", "Appliance.Core", "Engine", "Grpc");
        var result = ExternalTool.Run(Python, "python3-grpcio and protobuf-compiler", [Path.Combine(TestData.RepositoryRoot, "tests", "clients", "oip_grpc.py"), command, protos, $"127.0.0.1:{port}", "model", lines, .. extra]);
        Assert.True(result.ExitCode == 0, $"oip_grpc.py {command}: exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        return JsonDocument.Parse(result.Stdout).RootElement.Clone();
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
