using System.Globalization;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>
/// The Redis protocol with Debian's <c>redis-cli</c> as the client (a real program no
/// one here wrote): through a shard server's <c>--resp-port</c> and through the proxy role, values
/// are byte-equal to <c>cube lookup</c>, absent keys and keys of another shard are nil, a failed
/// shard's key is an error (never nil), and the handshake and INFO work as stock clients expect.
/// </summary>
public sealed class RespTests
{
    private static readonly ulong[] Keys = [1, 2, 3, 10, 11, 498, 499, 500];

    [Fact]
    public void RedisCliReadsTheSameBytesAsCubeLookupThroughAShardAndThroughTheProxy()
    {
        using var dir = new TempDirectory();
        Build(dir, "f32");
        var expected = Expected(dir);
        using var shard0 = ServerProcess.StartServer(dir.Combine("out"), "emb", 0, "--resp-port", "0");
        using var shard1 = ServerProcess.StartServer(dir.Combine("out"), "emb", 1);
        File.WriteAllText(dir.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 2, "dup": 1, "timeout": 300, "retry": 1, "backup_request": 0, "type": "ipport_list",
              "nodes": [{"ipport_list": "list://127.0.0.1:{{shard0.DataPort}}"}, {"ipport_list": "list://127.0.0.1:{{shard1.DataPort}}"}]}]
            """);
        using var proxy = ServerProcess.Start("run", "--roles", "proxy", "--bind", "127.0.0.1", "--http-port", "0", "--conf", dir.Combine("cube.conf"), "--resp-port", "0");

        Assert.Equal("PONG", RedisCli(shard0.RespPort, "PING").Trim());
        var mget = new[] { "MGET" }.Concat(Keys.Select(k => k.ToString(CultureInfo.InvariantCulture))).Append("999999").ToArray();

        // A shard server: its own keys, nil for the other shard's and for absent ones.
        var onShard = Csv(RedisCli(shard0.RespPort, ["--csv", .. mget]));
        Assert.Equal(Keys.Length + 1, onShard.Count);
        for (var i = 0; i < Keys.Length; i++)
        {
            Assert.Equal(Keys[i] % 2 == 0 ? expected[Keys[i]] : null, Hex(onShard[i]));
        }

        Assert.Null(onShard[^1]);

        // The proxy: every shard on one address.
        var onProxy = Csv(RedisCli(proxy.RespPort, ["--csv", .. mget]));
        Assert.Equal(string.Join(",", Keys.Select(k => expected[k]).Append("nil")), string.Join(",", onProxy.Select(v => Hex(v) ?? "nil")));
        Assert.Equal(Hex(onProxy[0]), Hex(Csv(RedisCli(proxy.RespPort, "--csv", "HGET", "emb", "1"))[0]));

        // Handshake and introspection as stock clients use them.
        Assert.Contains("proto", RedisCli(proxy.RespPort, "-3", "HELLO", "3"), StringComparison.Ordinal);
        Assert.Contains("db0:keys=250", RedisCli(shard0.RespPort, "INFO", "keyspace"), StringComparison.Ordinal);
        Assert.Equal("250", RedisCli(shard0.RespPort, "DBSIZE").Trim());
        Assert.StartsWith("READONLY", RedisCli(proxy.RespPort, "SET", "1", "x").Trim(), StringComparison.Ordinal);

        // A failed shard's key is an error naming the shard — never a nil.
        shard1.Signal("KILL");
        shard1.WaitForExit(TimeSpan.FromSeconds(10));
        var failed = RedisCli(proxy.RespPort, "GET", "3");
        Assert.Contains("ERR key 3: shard 1", failed, StringComparison.Ordinal);
        Assert.Equal(expected[2], Hex(Csv(RedisCli(proxy.RespPort, "--csv", "GET", "2"))[0]));
    }

    [Fact]
    public async Task AnF16TableIsServedAsFloat32AndHttpLookupAgrees()
    {
        using var dir = new TempDirectory();
        Build(dir, "f16");
        using var shard = ServerProcess.StartServer(dir.Combine("out"), "emb", 0, "--resp-port", "0");
        var floats = CubeProcess.Run(dir.Path, "lookup", "--data", dir.Combine("out"), "--dict", "emb", "--floats", "2").Ok().Lines[0].Split('\t')[1];
        var value = Csv(RedisCli(shard.RespPort, "--csv", "GET", "2"))[0]!;
        var decoded = Enumerable.Range(0, value.Length / 4).Select(i => BitConverter.ToSingle(value, i * 4).ToString(CultureInfo.InvariantCulture));
        Assert.Equal(floats, string.Join(' ', decoded));

        using var http = new HttpClient();
        using var bad = await http.GetAsync($"http://127.0.0.1:{shard.HttpPort}/lookup?dict=emb&keys=2,3,abc");
        Assert.Equal(400, (int)bad.StatusCode);
        Assert.Contains("key 3 'abc' is not a decimal uint64", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var json = await http.GetStringAsync($"http://127.0.0.1:{shard.HttpPort}/lookup?dict=emb&keys=2,3");
        Assert.Contains("\"status\": \"found\"", json, StringComparison.Ordinal);
        Assert.Contains("\"status\": \"other_shard\",\n      \"shard\": 1", json, StringComparison.Ordinal); // key 3 is shard 1's: not "missing"
    }

    /// <summary>Keys 1..500, four floats each (k, k+0.25, k+0.5, k+0.75), two shards.</summary>
    private static void Build(TempDirectory dir, string codec)
    {
        Directory.CreateDirectory(dir.Combine("in"));
        File.WriteAllLines(dir.Combine("in", "part-0.txt"), Enumerable.Range(1, 500).Select(k => $"{k}\t{k} {k + 0.25} {k + 0.5} {k + 0.75}"));
        CubeProcess.Run(dir.Path, "build", "--input", dir.Combine("in"), "--output", dir.Combine("out"), "--dict", "emb", "--shards", "2", "--version", "100", "--input-format", "text", "--value-codec", codec).Ok();
    }

    /// <summary>What cube lookup says each key holds (hex of the stored bytes).</summary>
    private static Dictionary<ulong, string?> Expected(TempDirectory dir) =>
        CubeProcess.Run(dir.Path, ["lookup", "--data", dir.Combine("out"), "--dict", "emb", .. Keys.Select(k => k.ToString(CultureInfo.InvariantCulture))]).Ok().Lines
            .Select(l => l.Split('\t')).ToDictionary(f => ulong.Parse(f[0], CultureInfo.InvariantCulture), f => f[1] == "MISSING" ? null : f[1]);

    private static string? Hex(byte[]? bytes) => bytes is null ? null : Convert.ToHexStringLower(bytes);

    private static string RedisCli(int port, params string[] args)
    {
        var result = ExternalTool.Run("redis-cli", "redis-tools", ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), .. args]);
        return result.Stdout + result.Stderr;
    }

    /// <summary>redis-cli --csv: "…" strings with C escapes (\xHH, \n, \", \\ …), NULL for nil.</summary>
    private static List<byte[]?> Csv(string line)
    {
        var values = new List<byte[]?>();
        var text = line.TrimEnd('\n');
        var at = 0;
        while (at < text.Length)
        {
            if (text.AsSpan(at).StartsWith("NULL", StringComparison.Ordinal))
            {
                values.Add(null);
                at += 4;
            }
            else
            {
                Assert.True(text[at] == '"', $"unexpected csv at {at}: {text}");
                var bytes = new List<byte>();
                at++;
                while (text[at] != '"')
                {
                    if (text[at] != '\\')
                    {
                        bytes.Add((byte)text[at++]);
                        continue;
                    }

                    var escape = text[at + 1];
                    if (escape == 'x')
                    {
                        bytes.Add(byte.Parse(text.AsSpan(at + 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        at += 4;
                        continue;
                    }

                    bytes.Add(escape switch { 'n' => (byte)'\n', 'r' => (byte)'\r', 't' => (byte)'\t', 'a' => 7, 'b' => 8, _ => (byte)escape });
                    at += 2;
                }

                values.Add([.. bytes]);
                at++;
            }

            at += at < text.Length && text[at] == ',' ? 1 : 0;
        }

        return values;
    }
}
