using System.Globalization;
using System.Text.RegularExpressions;

namespace Appliance.E2E.Tests;

/// <summary><c>cube bench lookup</c> against real servers, short and bounded: the client-based
/// closed loop over 2 shards, and the raw generator's closed and open loops on one server (the
/// open loop sends exactly rate × duration requests).</summary>
public sealed partial class BenchLookupTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    private static string ConfFile(TempDirectory dir, params ServerProcess[] shards)
    {
        var nodes = string.Join(", ", shards.Select(s => $"{{\"ipport_list\": \"list://127.0.0.1:{s.DataPort.ToString(CultureInfo.InvariantCulture)}\"}}"));
        var path = dir.Combine($"cube-{shards.Length}.conf");
        File.WriteAllText(path, $"[{{\"dict_name\": \"{ClusterFixture.Dict}\", \"shard\": {shards.Length}, \"dup\": 1, \"timeout\": 2000, \"retry\": 1, \"type\": \"ipport_list\", \"nodes\": [{nodes}]}}]");
        return path;
    }

    private static (long Requests, long Keys, long Missing, long Failed) Parse(CubeProcess.Result r)
    {
        var requests = RequestsLine().Match(r.Stdout);
        var keys = KeysLine().Match(r.Stdout);
        Assert.True(requests.Success && keys.Success, r.Stdout);
        Assert.Matches(@"latency  p50 \d+ us  p90 \d+ us  p99 \d+ us  p99\.9 \d+ us  max \d+ us", r.Stdout);
        return (long.Parse(requests.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(keys.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(keys.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(keys.Groups[3].Value, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void ClientAndRawGeneratorsReportWhatTheServersAnswered()
    {
        using var dir = new TempDirectory();
        using var shard0 = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        using var shard1 = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 1);
        var both = ConfFile(dir, shard0, shard1);
        var one = ConfFile(dir, shard0);
        string[] common = ["--keys", table.Directory.Combine("table.txt"), "--batch", "50", "--duration", "1", "--warmup", "0"];

        // Keys drawn from the table itself: none missing, none failed.
        var client = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--conf", both, "--connections", "1", "--pipeline", "4", .. common]).Ok());
        Assert.True(client.Requests > 0 && client.Keys == client.Requests * 50 && client.Missing == 0 && client.Failed == 0, client.ToString());

        // One shard only: the raw generator sends every key to it; the other shard's half are missing.
        var closed = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--conf", one, "--connections", "2", "--pipeline", "4", .. common]).Ok());
        Assert.True(closed.Requests > 0 && closed.Failed == 0, closed.ToString());
        Assert.InRange(closed.Missing, closed.Keys / 3, closed.Keys * 2 / 3);

        var open = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--conf", one, "--connections", "2", "--rate", "3000", .. common]).Ok());
        Assert.Equal(3000, open.Requests);
        Assert.Equal(0, open.Failed);

        var refused = CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--conf", both, .. common]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--raw measures one server", refused.Stderr);
    }

    /// <summary>The store alone (<c>--data</c>) over a <c>--key-scheme index</c> table: keys drawn
    /// by row over the whole table, uniform or Zipf-skewed, are all found; keys outside it are all
    /// missing; the two ways of choosing keys are refused together.</summary>
    [Fact]
    public void InProcessLookupsOfIndexedKeysFindEveryRow()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, ["kv", "gen", "--format", "seq", "--keys", "20000", "--parts", "2", "--key-scheme", "index", "--out", dir.Combine("in")]).Ok();
        CubeProcess.Run(dir.Path, ["build", "--input", dir.Combine("in"), "--output", dir.Combine("out"), "--dict", "t", "--shards", "1", "--version", "1"]).Ok();
        string[] common = ["bench", "lookup", "--data", dir.Combine("out"), "--dict", "t", "--batch", "20", "--duration", "1", "--warmup", "0"];

        foreach (var zipf in new[] { "0", "0.99", "1.5" })
        {
            var run = Parse(CubeProcess.Run(dir.Path, [.. common, "--indexed-keys", "20000", "--zipf", zipf]).Ok());
            Assert.True(run.Requests > 0 && run.Keys == run.Requests * 20 && run.Missing == 0, $"zipf {zipf}: {run}");
        }

        // Rows past the table's end have keys the table never held.
        var beyond = Parse(CubeProcess.Run(dir.Path, [.. common, "--indexed-keys", "40000"]).Ok());
        Assert.InRange(beyond.Missing, beyond.Keys / 3, beyond.Keys * 2 / 3);

        var both = CubeProcess.Run(dir.Path, ["kv", "gen", "--keys", "10", "--key-range", "100", "--key-scheme", "index", "--out", dir.Combine("x.txt")]);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--key-scheme index and --key-range", both.Stderr);
        var two = CubeProcess.Run(dir.Path, [.. common, "--indexed-keys", "10", "--key-range", "10"]);
        Assert.Equal(2, two.ExitCode);
        var network = CubeProcess.Run(dir.Path, [.. common, "--indexed-keys", "10", "--raw"]);
        Assert.Equal(2, network.ExitCode);
        Assert.Contains("--data measures the store", network.Stderr);
        var badZipf = CubeProcess.Run(dir.Path, [.. common, "--indexed-keys", "10", "--zipf", "-1"]);
        Assert.Equal(2, badZipf.ExitCode);
        Assert.Contains("--zipf", badZipf.Stderr);
    }

    /// <summary>The raw generator's RESP mode against the same server's --resp-port: the same
    /// seeded key stream as the native protocol finds exactly as many keys missing (so the keys
    /// sent and the replies counted agree), and a Redis-only address needs --raw.</summary>
    [Fact]
    public void RawRespMgetCountsWhatTheNativeProtocolCounts()
    {
        using var dir = new TempDirectory();
        using var shard0 = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0, "--resp-port", "0");
        string[] common = ["--keys", table.Directory.Combine("table.txt"), "--batch", "50", "--duration", "1", "--warmup", "0", "--connections", "2", "--rate", "2000", "--seed", "7"];
        var native = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--dict", ClusterFixture.Dict, "--address", $"127.0.0.1:{shard0.DataPort}", .. common]).Ok());
        var resp = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--protocol", "resp", "--address", $"127.0.0.1:{shard0.RespPort}", .. common]).Ok());
        Assert.Equal((2000L, 100_000L, 0L), (resp.Requests, resp.Keys, resp.Failed));
        Assert.Equal(native, resp);
        Assert.InRange(resp.Missing, resp.Keys / 3, resp.Keys * 2 / 3);

        var closed = Parse(CubeProcess.Run(dir.Path, ["bench", "lookup", "--raw", "--protocol", "resp", "--address", $"127.0.0.1:{shard0.RespPort}", "--keys", table.Directory.Combine("table.txt"), "--batch", "50", "--duration", "1", "--warmup", "0", "--pipeline", "4"]).Ok());
        Assert.True(closed.Requests > 0 && closed.Keys == closed.Requests * 50 && closed.Failed == 0, closed.ToString());

        var refused = CubeProcess.Run(dir.Path, ["bench", "lookup", "--protocol", "resp", "--address", $"127.0.0.1:{shard0.RespPort}", "--key-range", "10"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("need --raw", refused.Stderr);
    }

    [GeneratedRegex(@"requests (\d+)")]
    private static partial Regex RequestsLine();

    [GeneratedRegex(@"keys     (\d+) .* missing (\d+)  failed (\d+)")]
    private static partial Regex KeysLine();
}
