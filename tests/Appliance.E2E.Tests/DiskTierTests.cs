using System.Net;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>
/// <c>--values disk</c> on real server processes: every key answers as the reference through the
/// binary protocol and HTTP, the disk tier's counters reach /status and /metrics (promtool-clean),
/// and a values file truncated under a running server fails the keys it can no longer read,
/// loudly (the client's failure path, a counted metric), while the server stays up and serves
/// the rest.
/// </summary>
public sealed class DiskTierTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task EveryKeyAnswersLikeTheReferenceFromTheDevice()
    {
        ServerProcess[][] cluster = [.. Enumerable.Range(0, 2).Select(shard => new[] { ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, shard, "--values", "disk", "--cache-mb", "1") })];
        try
        {
            await using var client = new CubeClient(ClusterFixture.Conf(cluster));
            var keys = table.Reference.Keys.Take(50_000).Concat(table.Absent.Take(2_000)).ToArray();
            for (var pass = 0; pass < 2; pass++)
            {
                var wrong = 0;
                for (var start = 0; start < keys.Length; start += 500)
                {
                    var batch = keys.AsMemory(start, Math.Min(500, keys.Length - start));
                    using var result = await client.LookupAsync(ClusterFixture.Dict, batch);
                    for (var i = 0; i < batch.Length; i++)
                    {
                        var ok = table.Reference.TryGetValue(batch.Span[i], out var value)
                            ? result.Status[i] == KeyStatus.Found && result.Value(i).SequenceEqual(value)
                            : result.Status[i] == KeyStatus.Missing;
                        if (!ok && wrong++ < 3)
                        {
                            Assert.Fail($"pass {pass}, key {batch.Span[i]}: {result.Status[i]}");
                        }
                    }
                }

                Assert.Equal(0, wrong);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var present = table.Reference.Keys.First(k => k % 2 == 0);
            var lookup = await http.GetStringAsync($"http://127.0.0.1:{cluster[0][0].HttpPort}/lookup?keys={present}");
            Assert.Contains("\"found\"", lookup);

            using var status = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{cluster[0][0].HttpPort}/status"));
            var disk = status.RootElement.GetProperty("server").GetProperty("disk");
            // io_uring, or pread where the kernel refuses it (a seccomp profile), which /status then says.
            var engine = disk.GetProperty("read_engine").GetString();
            Assert.True(engine == "uring" || (engine == "pread" && disk.GetProperty("note").GetString() is { Length: > 0 }), $"read engine {engine}");
            Assert.True(disk.GetProperty("device_reads").GetInt64() > 0);
            Assert.True(disk.GetProperty("cache_hits").GetInt64() > 0, "the second pass found nothing in the cache");
            Assert.Equal(0, disk.GetProperty("failed_keys").GetInt64());
            Assert.InRange(disk.GetProperty("reads_per_key").GetDouble(), 0.0, 1.0);

            var metrics = await http.GetStringAsync($"http://127.0.0.1:{cluster[0][0].HttpPort}/metrics");
            Assert.Contains("cube_server_disk_reads_total{dict=\"emb\",shard=\"0\"}", metrics);
            Assert.Contains("cube_server_disk_read_duration_seconds_bucket", metrics);
            var lint = ExternalTool.Run("promtool", "prometheus", ["check", "metrics"], stdin: metrics);
            Assert.True(lint.ExitCode == 0 && (lint.Stdout + lint.Stderr).Trim().Length == 0, lint.Stdout + lint.Stderr);
        }
        finally
        {
            foreach (var server in cluster.SelectMany(s => s))
            {
                server.Dispose();
            }
        }
    }

    [Fact]
    public async Task AValuesFileTruncatedUnderTheServerFailsLoudlyAndTheServerStaysUp()
    {
        using var copy = new TempDirectory();
        CopyDirectory(table.Packages, copy.Path);
        using var server = ServerProcess.StartServer(copy.Path, ClusterFixture.Dict, 0, "--values", "disk", "--cache-mb", "0");
        var values = Directory.GetFiles(copy.Path, "values.bin", SearchOption.AllDirectories).Single(p => p.Contains($"{ClusterFixture.Dict}_part0", StringComparison.Ordinal));
        using (var f = new FileStream(values, FileMode.Open, FileAccess.Write))
        {
            f.SetLength(f.Length / 2); // in place, under the running server
        }

        await using var client = new CubeClient(ClusterFixture.Conf([[server]], retry: 0));
        // One key per request: a request with any key past the cut fails whole.
        // Spread over the file (the reference is in file order): some before the cut, some after.
        var keys = table.Reference.Keys.Where(k => k % 2 == 0).OrderBy(k => unchecked(k * 0x9E3779B97F4A7C15UL)).Take(3_000).ToArray();
        int found = 0, failed = 0;
        for (var start = 0; start < keys.Length; start++)
        {
            var batch = keys.AsMemory(start, 1);
            using var result = await client.LookupAsync(ClusterFixture.Dict, batch);
            for (var i = 0; i < batch.Length; i++)
            {
                switch (result.Status[i])
                {
                    case KeyStatus.Found:
                        Assert.True(result.Value(i).SequenceEqual(table.Reference[batch.Span[i]]), $"key {batch.Span[i]}: a wrong value");
                        found++;
                        break;
                    case KeyStatus.Failed:
                        failed++;
                        break;
                    default:
                        Assert.Fail($"key {batch.Span[i]} answered missing: a read failure must never look like an absent key");
                        break;
                }
            }
        }

        Assert.True(found > 0, "no request was answered: the keys before the cut are still readable");
        Assert.True(failed > 0, "no request failed past the cut");
        Assert.False(server.HasExited);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var seek = await http.PostAsync($"http://127.0.0.1:{server.HttpPort}/DictService/seek", new StringContent($"{{\"keys\": [{string.Join(',', keys)}]}}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, seek.StatusCode);
        Assert.Contains("could not be read", await seek.Content.ReadAsStringAsync());

        using var status = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/status"));
        Assert.True(status.RootElement.GetProperty("server").GetProperty("disk").GetProperty("failed_keys").GetInt64() > 0);
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/metrics");
        var line = metrics.Split('\n').Single(l => l.StartsWith("cube_server_disk_failed_keys_total{", StringComparison.Ordinal));
        Assert.NotEqual("0", line.Split(' ')[1]);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(directory.Replace(from, to, StringComparison.Ordinal));
        }

        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
        }
    }
}
