using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Appliance.Core.Engine;

namespace Appliance.E2E.Tests;

/// <summary>
/// What a new operator tripped on, each as the operator met it: a bad command line or file is one
/// line in the project's words naming the file, flag or field (never .NET's words, never a secret)
/// with the documented exit code; help exits 0; readiness says no when every request would be
/// refused; a partial prediction run fails; an orphan patch is a failed version; probes of a shard
/// that is not live yet are not errors.
/// </summary>
public sealed class OperatorPapercutTests : IDisposable
{
    private const string Secret = "two-line-secret-0123456789abcdef0123456789abcdef0123456789abcdefABCDEFGH";
    private readonly TempDirectory _dir = new();

    public OperatorPapercutTests()
    {
        // `head -c 64 /dev/urandom | base64` wraps at 76 characters: two lines.
        File.WriteAllText(_dir.Combine("two-line-token"), Secret + "\nsecond-line-of-it==\n");
        File.WriteAllText(_dir.Combine("token"), "0123456789abcdef0123\n");
        File.WriteAllText(_dir.Combine("transfer.conf"), "[default]\ndict_name: emb\nmode: base_delta\nshard_num: 2\ncopy_num: 1\ndonefile_address: done\noutput_address: out\ntmp_address: tmp\n[cube_agent]\nagent0_0: 127.0.0.1:8001\ncube0_0: 127.0.0.1:8000:/x\nagent1_0: 127.0.0.1:8002\ncube1_0: 127.0.0.1:8003:/y\n");
        File.WriteAllText(_dir.Combine("cube.conf"), """[{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 200, "retry": 0, "backup_request": 0, "type": "ipport_list", "nodes": [{"ipport_list": "list://127.0.0.1:1"}]}]""");
        CubeProcess.Run(_dir.Path, "kv", "gen", "--keys", "100", "--out", "table.txt").Ok();
        CubeProcess.Run(_dir.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "pk", "--dict", "emb", "--shards", "2", "--version", "100").Ok();
        // An agent's directory: one shard of the version only.
        CubeProcess.Run(_dir.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "agent", "--dict", "emb", "--shards", "2", "--version", "100").Ok();
        Directory.Delete(Directory.GetDirectories(_dir.Combine("agent"), "emb_part1", SearchOption.AllDirectories).Single(), recursive: true);
        ModelPackage.Write(_dir.Combine("model"), DenseNetwork.Random(seed: 1, hidden: 4, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
    }

    /// <summary>exit code, arguments, a text stderr must hold.</summary>
    public static TheoryData<int, string[], string> Cases => new()
    {
        { 2, ["run", "--check", "--roles", "transfer", "--config", "{dir}/transfer.conf", "--token-file", "{dir}/two-line-token"], "two-line-token: offset 0: holds 2 lines; a token file holds one line" },
        { 1, ["transfer", "pin", "--token-file", "{dir}/two-line-token", "--transfer", "http://127.0.0.1:1"], "holds 2 lines" },
        { 2, ["run", "--check", "--roles", "transfer", "--config", "{dir}/missing.conf", "--token-file", "{dir}/token"], "missing.conf" },
        { 2, ["run", "--check", "--roles", "transfer", "--config", "{dir}/cube.conf", "--token-file", "{dir}/token"], "this looks like a cube.conf (the client's JSON); a transfer.conf has [default] and [cube_agent] sections" },
        { 2, ["run", "--check", "--roles", "engine", "--model", "{dir}/model", "--conf", "{dir}/transfer.conf"], "transfer.conf: line 1: not JSON: " },
        { 2, ["run", "--check", "--roles", "engine", "--model", "{dir}/model", "--local", "--data-dir", "{dir}/agent"], "lacks shard(s) 1 of 2 (an agent's directory holds one shard)" },
        { 2, ["run", "--check", "--roles", "server", "--data-dir", "{dir}/pk", "--dict", "embs", "--shard", "0"], "--data-dir {dir}/pk holds dict(s) emb, not 'embs'" },
        { 2, ["run", "--check", "--roles", "server", "--data-dir", "{dir}/pk", "--dict", "emb", "--merge-after", "65"], "option --merge-after: '65' is not an integer in [0, 64]" },
        { 2, ["run", "--roles", "server", "--data_dir", "{dir}/pk", "--dict", "emb"], "unknown option --data_dir; did you mean --data-dir?" },
        { 2, ["gen-data", "--rows", "10", "--out", "{dir}/no-such-dir/train.tsv"], "option --out: directory {dir}/no-such-dir does not exist" },
        { 1, ["build", "--input", "{dir}/table.txt", "--output", "{dir}/out", "--dict", "emb", "--shards", "1"], "it looks like a text table: build it with --input-format text" },
        { 2, ["kv", "nonsense"], "unknown subcommand 'nonsense'" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ABadInputSaysWhatIsWrongInOneLineWithTheDocumentedExit(int exit, string[] args, string expected)
    {
        var r = CubeProcess.Run(_dir.Path, [.. args.Select(Expand)]);
        Assert.True(r.ExitCode == exit, $"exit {r.ExitCode} (expected {exit})\nstderr: {r.Stderr}");
        Assert.Contains(Expand(expected), r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, r.Stdout + r.Stderr, StringComparison.Ordinal); // the token file's content is never printed
        Assert.DoesNotContain(".NET", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kv", "--help")]
    [InlineData("conf", "--help")]
    [InlineData("package", "--help")]
    public void HelpExitsZeroAndShowsUsage(params string[] args)
    {
        var r = CubeProcess.Run(_dir.Path, args);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("usage: cube ", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void RunHelpGivesTheEngineItsOwnDefaultPortAndTopLevelHelpNamesEveryRole()
    {
        Assert.Contains("8010 for an engine alone", CubeProcess.Run(_dir.Path, "run", "--help").Ok().Stdout, StringComparison.Ordinal);
        var top = CubeProcess.Run(_dir.Path, "--help");
        Assert.Contains("run roles (server, agent, transfer, engine, proxy, all)", top.Stdout + top.Stderr, StringComparison.Ordinal);
    }

    /// <summary>An HTTP port in use was a 3 KB line of Kestrel's stack trace.</summary>
    [Fact]
    public void AnHttpPortInUseIsOneLine()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var r = CubeProcess.Run(_dir.Path, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", _dir.Combine("pk"), "--dict", "emb", "--shard", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"cube run: cannot start: HTTP port {port} on 127.0.0.1 is already in use (another process listens there; --http-port)", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr, StringComparison.Ordinal);
        Assert.True((r.Stdout + r.Stderr).Length < 1500, r.Stdout + r.Stderr);
    }

    /// <summary>An engine whose rows do not fit its model said ready while every /predict was 503;
    /// a /predict body with an unknown field answered in .NET's words; cube predict exited 0 with
    /// every sample refused and kept the reason in --out only.</summary>
    [Fact]
    public async Task AnEngineWhoseTableDoesNotFitItsModelIsNotReadyAndSaysWhy()
    {
        // The table holds 10 floats per row (kv gen's default); this model wants 8.
        ModelPackage.Write(_dir.Combine("model8"), DenseNetwork.Random(seed: 2, hidden: 4, hiddenLayers: 1, embeddingDim: 8), new ModelSpec { Dict = "emb", EmbeddingDim = 8 }, "1");
        CubeProcess.Run(_dir.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "pkf", "--dict", "emb", "--shards", "2", "--version", "100", "--value-codec", "f32").Ok();
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", _dir.Combine("model8"), "--local", "--data-dir", _dir.Combine("pkf"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/") };
        using (var ready = await http.GetAsync("v2/health/ready"))
        {
            Assert.NotEqual(HttpStatusCode.OK, ready.StatusCode); // what a load balancer's probe reads
        }

        var status = JsonDocument.Parse(await http.GetStringAsync("status")).RootElement.GetProperty("engine");
        Assert.False(status.GetProperty("ready").GetBoolean());
        Assert.Contains("the table does not fit the model: table version 100 of dict 'emb' holds 10 floats per row (f32); the model expects embedding_dim 8", status.GetProperty("not_ready_reason").GetString(), StringComparison.Ordinal);

        using (var unknown = await http.PostAsync("predict", new StringContent("""{"linez": ["1"]}""", System.Text.Encoding.UTF8, "application/json")))
        {
            var body = await unknown.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            Assert.Contains("unknown field 'linez' (the fields are lines, variant, samples)", body, StringComparison.Ordinal);
            Assert.DoesNotContain(".NET", body, StringComparison.Ordinal);
        }

        var predicted = CubeProcess.Run(_dir.Path, "predict", "--engine", $"127.0.0.1:{engine.HttpPort}", "--data", TestData.CriteoSample, "--batch", "100");
        Assert.Equal(1, predicted.ExitCode);
        Assert.Contains("refused 1000", predicted.Stdout, StringComparison.Ordinal);
        Assert.Contains("error: 1000 of 1000 sample(s) refused; the first, sample 1: ", predicted.Stderr, StringComparison.Ordinal);
    }

    /// <summary>`cube kv from-text --patch-of 123` wrote a patch of a base nobody had; the transfer
    /// passed over it without a word (donefile_errors 0). An engine waiting for its table raised
    /// every shard's error counter once a second.</summary>
    [Fact]
    public async Task APatchOfAnUnknownBaseIsAFailedVersionAndProbesOfAnEmptyShardAreNoErrors()
    {
        using var plane = new ControlPlane(rows: 500);
        plane.Publish("100", ControlPlane.Keys(500, seed: 8));
        plane.WaitActive("100_100");
        plane.Publish("201", ControlPlane.Keys(50, seed: 9), patchOf: "123");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonElement orphan = default;
        while (DateTime.UtcNow < deadline && orphan.ValueKind == JsonValueKind.Undefined)
        {
            orphan = plane.History().EnumerateArray().FirstOrDefault(v => v.GetProperty("version").GetString() == "201");
            Thread.Sleep(200);
        }

        Assert.NotEqual(JsonValueKind.Undefined, orphan.ValueKind);
        Assert.Contains("names base 123, which no line of base.txt has", orphan.ToString(), StringComparison.Ordinal);
        Assert.Contains("names base 123", plane.TransferStatus().GetProperty("last_error").GetString(), StringComparison.Ordinal);

        // A server with nothing live, probed by an engine for a few seconds: no errors counted.
        Directory.CreateDirectory(_dir.Combine("nothing"));
        using var empty = ServerProcess.StartServer(_dir.Combine("nothing"), "emb", 0);
        File.WriteAllText(_dir.Combine("empty.conf"), $$"""[{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 200, "retry": 0, "backup_request": 0, "type": "ipport_list", "nodes": [{"ipport_list": "list://127.0.0.1:{{empty.DataPort}}"}]}]""");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", _dir.Combine("model"), "--conf", _dir.Combine("empty.conf"));
        await Task.Delay(3500);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{empty.HttpPort}/metrics");
        Assert.Matches(@"cube_server_errors_total\{[^}]*\} 0\n", metrics);
        Assert.Matches(@"cube_server_probes_not_ready_total\{[^}]*\} [1-9]", metrics);
    }

    private string Expand(string text) =>
        text.Replace("{dir}", _dir.Path, StringComparison.Ordinal);

    public void Dispose() => _dir.Dispose();
}
