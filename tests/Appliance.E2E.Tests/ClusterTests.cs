using System.Diagnostics;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>Real server processes on 127.0.0.1: 2 shards × 2 replicas of one table, asked through
/// the cluster client.</summary>
public sealed class ClusterTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    private ServerProcess[][] StartCluster(params string[] extra) =>
        [.. Enumerable.Range(0, 2).Select(shard => Enumerable.Range(0, 2).Select(_ => ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, shard, extra)).ToArray())];

    private static void StopAll(ServerProcess[][] cluster)
    {
        foreach (var server in cluster.SelectMany(s => s))
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task EveryKeyAndAbsentKeysAnswerLikeTheReference()
    {
        var cluster = StartCluster();
        try
        {
            await using var client = new CubeClient(ClusterFixture.Conf(cluster));
            var keys = table.Reference.Keys.Concat(table.Absent).ToArray();
            var wrong = 0;
            for (var start = 0; start < keys.Length; start += 1000)
            {
                var batch = keys.AsMemory(start, Math.Min(1000, keys.Length - start));
                using var result = await client.LookupAsync(ClusterFixture.Dict, batch);
                for (var i = 0; i < batch.Length; i++)
                {
                    var key = batch.Span[i];
                    var ok = table.Reference.TryGetValue(key, out var value)
                        ? result.Status[i] == KeyStatus.Found && result.Value(i).SequenceEqual(value)
                        : result.Status[i] == KeyStatus.Missing;
                    if (!ok && wrong++ < 3)
                    {
                        Assert.Fail($"key {key}: {result.Status[i]}");
                    }
                }

                Assert.All(result.ShardVersions.Where(v => v is not null), v => Assert.Equal("500", v));
            }

            Assert.Equal(0, wrong);

            // Every replica served a share, and /status counts what it was asked.
            using var http = new HttpClient();
            long looked = 0;
            foreach (var server in cluster.SelectMany(s => s))
            {
                using var status = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/status"));
                var s = status.RootElement.GetProperty("server");
                Assert.Equal("500", s.GetProperty("live_version").GetString());
                Assert.True(s.GetProperty("lookups").GetInt64() > 0);
                looked += s.GetProperty("keys_looked_up").GetInt64();
            }

            Assert.Equal(keys.Length, looked);
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{cluster[0][0].HttpPort}/metrics");
            Assert.Contains("# TYPE cube_server_keys_total counter", metrics);
            Assert.Contains("cube_server_live_keys{dict=\"emb\",shard=\"0\"} ", metrics);
        }
        finally
        {
            StopAll(cluster);
        }
    }

    [Fact]
    public async Task AReplicaKilledUnderLoadCostsNoKey()
    {
        var cluster = StartCluster();
        try
        {
            await using var client = new CubeClient(ClusterFixture.Conf(cluster, timeoutMs: 2000, retry: 2));
            var keys = table.Reference.Keys.Take(20_000).ToArray();
            long failed = 0;
            long wrong = 0;
            long batches = 0;
            var stop = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                var random = new Random(w);
                var batch = new ulong[100];
                while (stop.Elapsed < TimeSpan.FromSeconds(4))
                {
                    for (var i = 0; i < batch.Length; i++)
                    {
                        batch[i] = keys[random.Next(keys.Length)];
                    }

                    using var result = await client.LookupAsync(ClusterFixture.Dict, batch);
                    Interlocked.Increment(ref batches);
                    for (var i = 0; i < batch.Length; i++)
                    {
                        if (result.Status[i] == KeyStatus.Failed)
                        {
                            Interlocked.Increment(ref failed);
                        }
                        else if (!result.Value(i).SequenceEqual(table.Reference[batch[i]]))
                        {
                            Interlocked.Increment(ref wrong);
                        }
                    }
                }
            })).ToArray();
            await Task.Delay(1500);
            cluster[0][0].Signal("KILL");
            await Task.WhenAll(workers);
            Assert.True(cluster[0][0].WaitForExit(TimeSpan.FromSeconds(5)));
            Assert.Equal(0, failed);
            Assert.Equal(0, wrong);
            Assert.True(batches > 100, $"only {batches} batches ran");
        }
        finally
        {
            StopAll(cluster);
        }
    }

    [Fact]
    public async Task ASlowReplicaIsOvertakenByTheBackupRequest()
    {
        var cluster = StartCluster();
        try
        {
            const int BackupMs = 50;
            const int TimeoutMs = 5000;
            await using var client = new CubeClient(ClusterFixture.Conf(cluster, timeoutMs: TimeoutMs, retry: 0, backupMs: BackupMs));
            var keys = table.Reference.Keys.Where(k => k % 2 == 1).Take(100).ToArray(); // all in shard 1
            using (var warm = await client.LookupAsync(ClusterFixture.Dict, keys))
            {
                Assert.Equal(0, warm.FailedKeys);
            }

            cluster[1][0].Signal("STOP"); // alive, connected, silent: the slow replica
            var slowest = TimeSpan.Zero;
            for (var i = 0; i < 20; i++)
            {
                var watch = Stopwatch.StartNew();
                using var result = await client.LookupAsync(ClusterFixture.Dict, keys);
                slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
                Assert.Equal(0, result.FailedKeys);
                Assert.True(result.Value(0).SequenceEqual(table.Reference[keys[0]]));
            }

            // Half of these went first to the stopped replica. Without hedging each would wait for
            // the 5 s timeout; with it they take the backup delay plus one round trip. The bound is
            // wide (a loaded CI machine) yet far from the timeout.
            Assert.True(slowest < TimeSpan.FromMilliseconds(BackupMs + 1000), $"slowest lookup took {slowest.TotalMilliseconds:F0} ms");
            cluster[1][0].Signal("CONT");
        }
        finally
        {
            StopAll(cluster);
        }
    }

    [Fact]
    public async Task AnUnknownDictIsAPerRequestErrorAndAShardWithNoReplicaIsMarkedFailed()
    {
        var cluster = StartCluster();
        try
        {
            await using (var wrong = new CubeClient(ClusterFixture.Conf(cluster, dict: "other")))
            {
                using var result = await wrong.LookupAsync("other", new ulong[] { 1, 2, 3 });
                Assert.All(result.Status, s => Assert.Equal(KeyStatus.Failed, s));
                Assert.Contains("UnknownDict", result.Errors.First().Error);
            }

            // The servers are unharmed, and a shard whose replicas are all gone fails only its own keys.
            cluster[1][0].Signal("KILL");
            cluster[1][1].Signal("KILL");
            await using var client = new CubeClient(ClusterFixture.Conf(cluster, timeoutMs: 500, retry: 1));
            var keys = table.Reference.Keys.Take(200).ToArray();
            using var mixed = await client.LookupAsync(ClusterFixture.Dict, keys);
            for (var i = 0; i < keys.Length; i++)
            {
                if (keys[i] % 2 == 1)
                {
                    Assert.Equal(KeyStatus.Failed, mixed.Status[i]);
                    Assert.True(mixed.Value(i).IsEmpty);
                }
                else
                {
                    Assert.Equal(KeyStatus.Found, mixed.Status[i]);
                    Assert.True(mixed.Value(i).SequenceEqual(table.Reference[keys[i]]));
                }
            }

            Assert.Equal([1], mixed.Errors.Select(e => e.Shard));
        }
        finally
        {
            StopAll(cluster);
        }
    }

    [Fact]
    public void LookupToolSpeaksToTheClusterAndMarksFailedShards()
    {
        var cluster = StartCluster();
        try
        {
            var conf = table.Directory.Combine($"cube-{Guid.NewGuid():N}.conf");
            File.WriteAllText(conf, $$"""
                [{"dict_name": "emb", "shard": 2, "dup": 2, "timeout": 500, "retry": 1, "backup_request": 0, "type": "ipport_list", "load_balancer": "rr",
                  "nodes": [{"ipport_list": "list://127.0.0.1:{{cluster[0][0].DataPort}},127.0.0.1:{{cluster[0][1].DataPort}}"},
                            {"ipport_list": "list://127.0.0.1:{{cluster[1][0].DataPort}},127.0.0.1:{{cluster[1][1].DataPort}}"}]}]
                """);
            var even = table.Reference.Keys.First(k => k % 2 == 0);
            var odd = table.Reference.Keys.First(k => k % 2 == 1);
            var fromDisk = CubeProcess.Run(table.Directory.Path, "lookup", "--data", "packages", "--dict", "emb", $"{even}", $"{odd}", "4").Ok();
            var fromCluster = CubeProcess.Run(table.Directory.Path, "lookup", "--conf", conf, $"{even}", $"{odd}", "4").Ok();
            Assert.Equal(fromDisk.Stdout, fromCluster.Stdout);

            cluster[1][0].Signal("KILL");
            cluster[1][1].Signal("KILL");
            var partial = CubeProcess.Run(table.Directory.Path, "lookup", "--conf", conf, "--floats", $"{even}", $"{odd}");
            Assert.Equal(1, partial.ExitCode);
            Assert.Equal($"{odd}\tFAILED", partial.Lines[1]);
            Assert.Contains("shard 1 failed", partial.Stderr);
        }
        finally
        {
            StopAll(cluster);
        }
    }
}
