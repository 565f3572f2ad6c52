using System.Globalization;
using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>
/// The original clients' protocol on the data port, tried with a client nobody on the team wrote
/// the server for: tests/clients/cube_seek.py frames baidu_std from brpc's published description and
/// encodes the messages with Google's protobuf runtime (Debian's python3-protobuf); its HTTP form
/// is Python's urllib. Both read, per key, exactly the float32 rows <c>cube lookup</c> reads from
/// the packages on disk; the same port still speaks the binary protocol; not-ready and unserved
/// requests are RpcMeta errors, never empty values.
/// </summary>
public sealed class BrpcTests
{
    private const string Python = "/usr/bin/python3"; // Debian's, where python3-protobuf installs

    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public async Task TheOriginalClientsReadTheRowsCubeLookupReads(string codec)
    {
        using var dir = new TempDirectory();
        Build(dir, codec);
        using var shard0 = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);
        using var shard1 = ServerProcess.StartServer(dir.Combine("out"), "emb", 1);
        ulong[] keys = [2, 4, 3, 2, 500, 999998]; // shard 0's, one of shard 1's (missing there), a duplicate, an absent key
        var expected = Floats(dir, keys);

        // baidu_std, three pipelined copies of the request (the script checks every correlation id comes back once).
        var brpc = Seek("brpc", shard0.DataPort, ["--version", "--pipeline", "3", .. keys.Select(Text)]);
        var http = Seek("http", shard0.HttpPort, ["--version", .. keys.Select(Text)]);
        foreach (var answer in new[] { brpc, http })
        {
            Assert.Equal(keys.Length + 1, answer.Count);
            for (var i = 0; i < keys.Length; i++)
            {
                var (status, hex) = answer[i];
                var shouldHave = keys[i] % 2 == 0 && expected[i] is not null;
                Assert.Equal(shouldHave ? "0" : "4294967295", status);
                Assert.Equal(shouldHave ? expected[i] : string.Empty, shouldHave ? FloatsOf(hex) : hex);
            }

            Assert.Equal(("version", "100"), answer[^1]);
        }

        // The same data port still speaks the binary protocol, and our own brpc client agrees with it.
        File.WriteAllText(dir.Combine("cube.conf"), Conf(shard0.DataPort, shard1.DataPort));
        var all = Enumerable.Range(1, 12).Select(k => k.ToString(CultureInfo.InvariantCulture)).Append("999999").ToArray();
        var native = CubeProcess.Run(dir.Path, ["lookup", "--conf", dir.Combine("cube.conf"), "--floats", .. all]).Ok().Lines;
        var overBrpc = CubeProcess.Run(dir.Path, ["lookup", "--conf", dir.Combine("cube.conf"), "--protocol", "brpc", "--floats", "--version", .. all]).Ok();
        Assert.Equal(native, overBrpc.Lines);
        Assert.Contains("shard 1 version 100", overBrpc.Stderr, StringComparison.Ordinal);
        Assert.Equal(CubeProcess.Run(dir.Path, ["lookup", "--data", dir.Combine("out"), "--dict", "emb", "--floats", .. all]).Ok().Lines, native);

        // The seeks count where the binary protocol's lookups count.
        using var client = new HttpClient();
        using var served = JsonDocument.Parse(await client.GetStringAsync($"http://127.0.0.1:{shard0.HttpPort}/status"));
        Assert.True(served.RootElement.GetProperty("server").GetProperty("keys_looked_up").GetInt64() >= (3 * keys.Length) + keys.Length);
    }

    [Fact]
    public async Task UnservedRequestsAndAServerWithNothingLiveAnswerRpcMetaErrors()
    {
        using var dir = new TempDirectory();
        Build(dir, "f32");
        using var shard = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);

        // RpcMeta {request {service_name "x.Y", method_name "seek"}, correlation_id 5}, written by hand.
        var unknownService = Run(["brpc", "127.0.0.1", Text(shard.DataPort), "--raw-meta", "0a0b0a03782e5912047365656b2005", "2"]);
        Assert.Equal("error\t1001\tservice 'x.Y' is not served here (rec.mcube.DictService is)\t5", unknownService.Stdout.Trim());

        using var badHttp = new HttpClient();
        using var bad = await badHttp.PostAsync($"http://127.0.0.1:{shard.HttpPort}/DictService/seek", new StringContent("{\"keys\": [1, \"x\"]}"));
        Assert.Equal(400, (int)bad.StatusCode);
        Assert.Contains("key 2 (byte 13) is not an unsigned 64-bit integer", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Directory.CreateDirectory(dir.Combine("empty"));
        using var empty = ServerProcess.StartServer(dir.Combine("empty"), "emb", 0);
        var brpc = Run(["brpc", "127.0.0.1", Text(empty.DataPort), "2", "4"]);
        Assert.Equal(3, brpc.ExitCode);
        Assert.StartsWith("error\t2003\tdict emb shard 0: no version is live yet", brpc.Stdout, StringComparison.Ordinal); // ELOGOFF: brpc retries another replica
        var http = Run(["http", "127.0.0.1", Text(empty.HttpPort), "2"]);
        Assert.StartsWith("error\t503\t", http.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TheRawGeneratorDrivesAServerOverBaiduStd()
    {
        using var dir = new TempDirectory();
        Build(dir, "f32");
        using var shard = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);
        File.WriteAllText(dir.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 500, "retry": 0, "backup_request": 0, "type": "ipport_list",
              "nodes": [{"ipport_list": "list://127.0.0.1:{{shard.DataPort}}"}]}]
            """);
        var run = CubeProcess.Run(dir.Path, "bench", "lookup", "--raw", "--protocol", "brpc", "--conf", dir.Combine("cube.conf"), "--dict", "emb", "--key-range", "500", "--batch", "50", "--duration", "1", "--warmup", "0").Ok();
        Assert.Contains("baidu_std DictService.seek", run.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"failed 0\b", run.Stdout);
        Assert.DoesNotMatch(@"^keys +0 ", run.Stdout);
    }

    /// <summary>Keys 1..500, four floats each (k, k+0.25, k+0.5, k+0.75), two shards, version 100.</summary>
    private static void Build(TempDirectory dir, string codec)
    {
        Directory.CreateDirectory(dir.Combine("in"));
        File.WriteAllLines(dir.Combine("in", "part-0.txt"), Enumerable.Range(1, 500).Select(k => $"{k}\t{k} {k + 0.25} {k + 0.5} {k + 0.75}"));
        CubeProcess.Run(dir.Path, "build", "--input", dir.Combine("in"), "--output", dir.Combine("out"), "--dict", "emb", "--shards", "2", "--version", "100", "--input-format", "text", "--value-codec", codec).Ok();
    }

    private static string Conf(int shard0, int shard1) => $$"""
        [{"dict_name": "emb", "shard": 2, "dup": 1, "timeout": 500, "retry": 1, "backup_request": 0, "type": "ipport_list",
          "nodes": [{"ipport_list": "list://127.0.0.1:{{shard0}}"}, {"ipport_list": "list://127.0.0.1:{{shard1}}"}]}]
        """;

    /// <summary>What <c>cube lookup --data --floats</c> says each key holds (null: missing).</summary>
    private static string?[] Floats(TempDirectory dir, ulong[] keys) =>
        [.. CubeProcess.Run(dir.Path, ["lookup", "--data", dir.Combine("out"), "--dict", "emb", "--floats", .. keys.Select(Text)]).Ok().Lines
            .Select(l => l.Split('\t')[1]).Select(v => v == "MISSING" ? null : v)];

    private static string FloatsOf(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        return string.Join(' ', Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, i * 4).ToString(CultureInfo.InvariantCulture)));
    }

    private static List<(string, string)> Seek(string mode, int port, string[] args)
    {
        var result = Run([mode, "127.0.0.1", Text(port), .. args]);
        Assert.True(result.ExitCode == 0, $"cube_seek.py {mode}: exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        return [.. result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).Select(f => f[0] == "version" ? (f[0], f[1]) : (f[1], f[2]))];
    }

    private static ExternalTool.Result Run(string[] args) =>
        ExternalTool.Run(Python, "python3-protobuf", [Path.Combine(TestData.RepositoryRoot, "tests", "clients", "cube_seek.py"), .. args]);

    private static string Text(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
