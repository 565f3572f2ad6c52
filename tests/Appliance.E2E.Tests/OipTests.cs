using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Appliance.Core.Engine;
using Appliance.Core.Features;

namespace Appliance.E2E.Tests;

/// <summary>
/// The Open Inference Protocol (KServe v2) REST API on the engine, against the spec:
/// every endpoint, each input path (BYTES lines, FP32 + BYTES tokens, FP32 + INT64 keys, the
/// binary tensor data extension in and out) scoring bit for bit what /predict scores, the error
/// shapes and status codes, and readiness false before the table is live.
/// </summary>
public sealed class OipTests
{
    [Fact]
    public async Task EveryEndpointAnswersPerTheSpecAndEveryInputPathScoresLikePredict()
    {
        using var dir = new TempDirectory();
        var (samples, _) = EngineTests.BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 61), new ModelSpec { Dict = "emb" }, "7");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"), "--max-samples", "100");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/") };

        // Health, server and model metadata.
        Assert.Equal("{\"live\":true}", await GetAsync(http, "v2/health/live", HttpStatusCode.OK));
        Assert.Equal("{\"ready\":true}", await GetAsync(http, "v2/health/ready", HttpStatusCode.OK));
        var server = JsonDocument.Parse(await GetAsync(http, "v2", HttpStatusCode.OK)).RootElement;
        Assert.Equal("cube-appliance", server.GetProperty("name").GetString());
        Assert.Contains("binary_tensor_data", server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        var metadata = JsonDocument.Parse(await GetAsync(http, "v2/models/model", HttpStatusCode.OK)).RootElement;
        Assert.Equal(["7"], metadata.GetProperty("versions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("FP32", metadata.GetProperty("outputs")[0].GetProperty("datatype").GetString());
        Assert.Equal([-1L, 1L], metadata.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([-1L, 13L], metadata.GetProperty("inputs")[1].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        await GetAsync(http, "v2/models/model/versions/7", HttpStatusCode.OK);
        Assert.Contains("\"ready\":true", await GetAsync(http, "v2/models/model/versions/7/ready", HttpStatusCode.OK));
        Assert.Contains("version '8' is not loaded (the live version is 7)", await GetAsync(http, "v2/models/model/versions/8", HttpStatusCode.NotFound));
        Assert.Contains("no model 'nope' (models: model)", await GetAsync(http, "v2/models/nope/ready", HttpStatusCode.NotFound));

        // The reference: /predict on the same 64 lines.
        var lines = File.ReadLines(TestData.CriteoSample).Take(64).ToList();
        using var predict = await http.PostAsync("predict", Json(new { lines }));
        var expected = JsonDocument.Parse(await predict.Content.ReadAsStringAsync()).RootElement.GetProperty("scores").EnumerateArray().Select(e => e.GetSingle()).ToArray();

        var dense = samples.Take(64).SelectMany(s => s.Dense.Select(d => d is { } v ? (float)v : float.NaN)).ToArray();
        var tokens = samples.Take(64).SelectMany(s => s.Sparse).ToArray();
        var keys = samples.Take(64).SelectMany(s => s.Sparse.Select((t, slot) => (long)FeatureHasher.PaddleKey(slot, t))).ToArray();
        var denseJson = dense.Select(d => float.IsNaN(d) ? (float?)null : d).ToArray();

        // JSON: lines; dense + tokens; dense + keys.
        await AssertScores(http, expected, "{\"id\": \"a\", \"inputs\": [{\"name\": \"lines\", \"shape\": [64], \"datatype\": \"BYTES\", \"data\": " + JsonSerializer.Serialize(lines) + "}]}", path: "v2/models/model/versions/7/infer");
        await AssertScores(http, expected, "{\"inputs\": [{\"name\": \"dense\", \"shape\": [64, 13], \"datatype\": \"FP32\", \"data\": " + JsonSerializer.Serialize(denseJson) + "}, {\"name\": \"sparse\", \"shape\": [64, 26], \"datatype\": \"BYTES\", \"data\": " + JsonSerializer.Serialize(tokens) + "}]}");
        await AssertScores(http, expected, "{\"inputs\": [{\"name\": \"dense\", \"shape\": [64, 13], \"datatype\": \"FP32\", \"data\": " + JsonSerializer.Serialize(denseJson) + "}, {\"name\": \"sparse\", \"shape\": [64, 26], \"datatype\": \"INT64\", \"data\": " + JsonSerializer.Serialize(keys) + "}]}");

        // Binary tensor data: lines in, scores out; dense + keys in, JSON out.
        var linesBytes = lines.SelectMany(l => { var b = Encoding.UTF8.GetBytes(l); var n = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(n, b.Length); return n.Concat(b); }).ToArray();
        await AssertScores(http, expected, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [64], \"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": " + linesBytes.Length + "}}], \"outputs\": [{\"name\": \"prob\", \"parameters\": {\"binary_data\": true}}]}", linesBytes);
        var denseBytes = dense.SelectMany(f => BitConverter.GetBytes(f)).ToArray();
        var keyBytes = keys.SelectMany(k => BitConverter.GetBytes(k)).ToArray();
        await AssertScores(http, expected, "{\"inputs\": [{\"name\": \"dense\", \"shape\": [64, 13], \"datatype\": \"FP32\", \"parameters\": {\"binary_data_size\": " + denseBytes.Length + "}}, {\"name\": \"sparse\", \"shape\": [64, 26], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": " + keyBytes.Length + "}}]}", [.. denseBytes, .. keyBytes]);

        // Errors: {"error": "..."} with the spec's status codes, the field named.
        await AssertError(http, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"a\"]}]}", HttpStatusCode.BadRequest, "input 'x' is not taken");
        await AssertError(http, "{\"inputs\": [{\"name\": \"dense\", \"shape\": [1, 12], \"datatype\": \"FP32\", \"data\": [1,2,3,4,5,6,7,8,9,10,11,12]}, {\"name\": \"sparse\", \"shape\": [1, 26], \"datatype\": \"INT64\", \"data\": [" + string.Join(",", Enumerable.Repeat(1, 26)) + "]}]}", HttpStatusCode.BadRequest, "input dense: shape [1,12], the model takes [N,13]");
        await AssertError(http, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"a\"]}]}", HttpStatusCode.BadRequest, "input lines: shape [2] needs 2 value(s), \"data\" has 1");
        await AssertError(http, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [" + JsonSerializer.Serialize(lines[0]) + ", \"1\\t2\"]}]}", HttpStatusCode.BadRequest, "sample 1: ");
        await AssertError(http, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [101], \"datatype\": \"BYTES\", \"data\": " + JsonSerializer.Serialize(Enumerable.Repeat(lines[0], 101)) + "}]}", HttpStatusCode.BadRequest, "101 samples; at most 100 per request (--max-samples)");
        await AssertError(http, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"a\"]}], \"outputs\": [{\"name\": \"logits\"}]}", HttpStatusCode.BadRequest, "output 'logits' is not produced (the model's output is 'prob')");
        await AssertError(http, "not json", HttpStatusCode.BadRequest, "the request is not JSON");
        using var missing = await http.PostAsync("v2/models/nope/infer", Json(new { inputs = Array.Empty<object>() }));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task ReadinessIsFalseAndInferIs503UntilTheTableIsLive()
    {
        using var dir = new TempDirectory();
        using var shard = StartEmptyCluster(dir, seed: 62);
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--conf", dir.Combine("cube.conf"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/") };
        Assert.Equal("{\"live\":true}", await GetAsync(http, "v2/health/live", HttpStatusCode.OK));
        Assert.Contains("\"ready\":false", await GetAsync(http, "v2/health/ready", HttpStatusCode.BadRequest));
        Assert.Contains("\"ready\":false", await GetAsync(http, "v2/models/model/ready", HttpStatusCode.BadRequest));
        var line = File.ReadLines(TestData.CriteoSample).First();
        await AssertError(http, "{\"inputs\": [{\"name\": \"lines\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [" + JsonSerializer.Serialize(line) + "]}]}", HttpStatusCode.ServiceUnavailable, "waiting for the table");
    }

    /// <summary>A model in DIR/model and DIR/cube.conf naming one shard server that has no
    /// version: an engine on them is not ready (waiting for the table).</summary>
    internal static ServerProcess StartEmptyCluster(TempDirectory dir, int seed)
    {
        Directory.CreateDirectory(dir.Combine("empty"));
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: seed), new ModelSpec { Dict = "emb" }, "1");
        var shard = ServerProcess.StartServer(dir.Combine("empty"), "emb", 0);
        File.WriteAllText(dir.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 300, "retry": 1, "backup_request": 0, "type": "ipport_list", "nodes": [{"ipport_list": "list://127.0.0.1:{{shard.DataPort}}"}]}]
            """);
        return shard;
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    private static async Task<string> GetAsync(HttpClient http, string path, HttpStatusCode status)
    {
        using var response = await http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"GET {path}: {(int)response.StatusCode} {body}");
        return body;
    }

    private static async Task<HttpResponseMessage> InferAsync(HttpClient http, string json, byte[]? binary, string path = "v2/models/model/infer")
    {
        var header = Encoding.UTF8.GetBytes(json);
        var content = new ByteArrayContent([.. header, .. binary ?? []]);
        content.Headers.ContentType = new MediaTypeHeaderValue(binary is null ? "application/json" : "application/octet-stream");
        if (binary is not null)
        {
            content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return await http.PostAsync(path, content);
    }

    /// <summary>The infer answer's scores, bit for bit the reference's, whether JSON or binary.</summary>
    private static async Task AssertScores(HttpClient http, float[] expected, string json, byte[]? binary = null, string path = "v2/models/model/infer")
    {
        using var response = await InferAsync(http, json, binary, path);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(body));
        float[] scores;
        var header = body.Length;
        if (response.Headers.TryGetValues("Inference-Header-Content-Length", out var values))
        {
            header = int.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture);
            scores = Enumerable.Range(0, (body.Length - header) / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(body.AsSpan(header + (i * 4)))).ToArray();
        }
        else
        {
            scores = JsonDocument.Parse(body).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        }

        var answer = JsonDocument.Parse(body.AsMemory(0, header)).RootElement;
        Assert.Equal("model", answer.GetProperty("model_name").GetString());
        Assert.Equal("7", answer.GetProperty("model_version").GetString());
        Assert.Equal([64L, 1L], answer.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), scores.Select(BitConverter.SingleToInt32Bits));
    }

    private static async Task AssertError(HttpClient http, string json, HttpStatusCode status, string expected)
    {
        using var response = await InferAsync(http, json, null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} {body}");
        Assert.Contains(expected, JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
