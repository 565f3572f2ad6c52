using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>The control plane with real processes on loopback: a transfer rolling versions out to
/// 2 shards × 2 replicas of server+agent, and the faults it must survive.</summary>
public sealed class RolloutTests
{
    /// <summary>With a poll every 600 s, only the donefile watcher can start a rollout within the
    /// test's minute: the first poll runs at start, before anything is published. A base and then
    /// a patch each go live from their appended line, and /status says how lines are noticed.</summary>
    [Fact]
    public async Task AnAppendedDonefileLineRollsOutWithoutWaitingForThePoll()
    {
        using var plane = new ControlPlane(20_000, "poll_seconds: 600");
        var watching = Stopwatch.StartNew(); // the loop starts watching right after the role starts
        while (plane.TransferStatus().GetProperty("donefile_watch").GetString() == "not started" && watching.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(50);
        }

        Assert.Equal($"inotify on {plane.Directory.Combine("done")}", plane.TransferStatus().GetProperty("donefile_watch").GetString());
        var polls = plane.TransferStatus().GetProperty("polls").GetInt64();

        plane.Publish("100", ControlPlane.Keys(5_000, 1));
        plane.WaitActive("100_100", TimeSpan.FromSeconds(60));
        plane.Publish("101", ControlPlane.Keys(500, 2), patchOf: "100");
        plane.WaitActive("100_101", TimeSpan.FromSeconds(60));
        Assert.InRange(plane.TransferStatus().GetProperty("polls").GetInt64(), polls + 2, polls + 20);
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);
    }

    [Fact]
    public async Task BaseTwoPatchesAndANewBaseRollOutUnderLoadWithoutAFailedLookup()
    {
        using var plane = new ControlPlane();
        var baseKeys = ControlPlane.Keys(20_000, 1);
        plane.Publish("100", baseKeys);
        plane.WaitActive("100_100");
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client, ControlPlane.Keys(1000, 900_000));

        long failed = 0;
        long lookups = 0;
        string? firstError = null;
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            var batch = new ulong[100];
            var deadline = Stopwatch.StartNew();
            while (!stop.IsCancellationRequested && deadline.Elapsed < TimeSpan.FromSeconds(120))
            {
                for (var i = 0; i < batch.Length; i++)
                {
                    batch[i] = baseKeys[random.Next(baseKeys.Length)];
                }

                using var result = await client.LookupAsync(ControlPlane.Dict, batch);
                if (result.FailedKeys > 0)
                {
                    Interlocked.Add(ref failed, result.FailedKeys);
                    Interlocked.CompareExchange(ref firstError, $"{DateTime.UtcNow:HH:mm:ss.fff} {result.Errors.First().Error}", null);
                }
                Interlocked.Increment(ref lookups);
            }
        })).ToArray();

        plane.Publish("101", baseKeys.Take(3000).Concat(ControlPlane.Keys(2000, 50_000)), patchOf: "100");
        await plane.WaitActiveAsync("100_101");
        await plane.AssertServesExpected(client);
        plane.Publish("102", baseKeys.Skip(1000).Take(3000), patchOf: "100");
        await plane.WaitActiveAsync("100_102");
        await plane.AssertServesExpected(client);
        var newBase = baseKeys.Skip(10_000).Concat(ControlPlane.Keys(5000, 70_000)).ToArray();
        plane.Publish("200", newBase);
        await plane.WaitActiveAsync("200_200");
        await plane.AssertServesExpected(client, baseKeys.Take(100)); // keys only in the old lineage are gone

        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.True(failed == 0, $"{failed} keys failed; first: {firstError}");
        Assert.True(lookups > 50, $"only {lookups} batches ran during the rollouts");

        // The previous lineage stays on the agents (retain_lineages 2: a rollback across the base
        // finds it; OperatorControlTests retires it with 1); the original query endpoints report it all.
        var agent = plane.AgentStatus(0, 0);
        Assert.Equal(["100_100", "100_101", "100_102", "200_200"], agent.GetProperty("staged").EnumerateArray().Select(e => e.GetString()));
        var history = plane.Get($"http://127.0.0.1:{plane.TransferPort}/dict/deploy/history");
        Assert.Equal("0", history.GetProperty("success").GetString());
        Assert.Equal(["superseded", "superseded", "superseded", "active"], history.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("status_str").GetString()));
        var info = plane.Get($"http://127.0.0.1:{plane.TransferPort}/dict/info").GetProperty("data");
        Assert.Equal(4, info.GetProperty("inst_num").GetInt32());
        Assert.All(plane.Get($"http://127.0.0.1:{plane.TransferPort}/instance/status").GetProperty("data").EnumerateArray(),
            i => Assert.Equal(100, i.GetProperty("status_id").GetInt32()));
    }

    /// <summary>The package route honours the end of a byte range (it sent the
    /// rest of the file) and refuses a backwards one.</summary>
    [Fact]
    public async Task PackageFilesAreServedByExactByteRanges()
    {
        using var plane = new ControlPlane();
        plane.Publish("100", ControlPlane.Keys(2000, 8));
        plane.WaitActive("100_100");
        var url = $"http://127.0.0.1:{plane.TransferPort}/packages/100_100/emb_part0/values.bin";
        var whole = File.ReadAllBytes(plane.Directory.Combine("output", "100_100", "emb_part0", "values.bin"));

        async Task<HttpResponseMessage> Get(string range)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ControlPlane.Token);
            request.Headers.TryAddWithoutValidation("Range", range);
            return await plane.Http.SendAsync(request);
        }

        using (var part = await Get("bytes=10-19"))
        {
            Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
            Assert.Equal($"bytes 10-19/{whole.Length}", part.Content.Headers.ContentRange?.ToString());
            Assert.Equal(whole[10..20], await part.Content.ReadAsByteArrayAsync());
        }

        using (var rest = await Get($"bytes={whole.Length - 5}-"))
        {
            Assert.Equal(whole[^5..], await rest.Content.ReadAsByteArrayAsync());
        }

        using (var suffix = await Get("bytes=-5"))
        {
            // The last 5 bytes (RFC 9110 suffix range): it was 416.
            Assert.Equal(HttpStatusCode.PartialContent, suffix.StatusCode);
            Assert.Equal($"bytes {whole.Length - 5}-{whole.Length - 1}/{whole.Length}", suffix.Content.Headers.ContentRange?.ToString());
            Assert.Equal(whole[^5..], await suffix.Content.ReadAsByteArrayAsync());
        }

        using var backwards = await Get("bytes=19-10");
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, backwards.StatusCode);
    }

    /// <summary>A donefile server that accepts and never answers held the
    /// transfer's poll forever; now the fetch times out (fetch_timeout_seconds), the failure is
    /// reported, and polling goes on.</summary>
    [Fact]
    public async Task ADonefileServerThatNeverAnswersDoesNotStopPolling()
    {
        using var stall = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        stall.Start();
        var held = new List<System.Net.Sockets.TcpClient>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await stall.AcceptTcpClientAsync(stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
                // done
            }
        });
        try
        {
            using var plane = new ControlPlane($"http://127.0.0.1:{((IPEndPoint)stall.LocalEndpoint).Port}/done", 20_000, "fetch_timeout_seconds: 1");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (plane.TransferStatus().GetProperty("polls").GetInt64() < 3 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }

            var status = plane.TransferStatus();
            Assert.True(status.GetProperty("polls").GetInt64() >= 3, status.ToString());
            Assert.Contains("no complete answer within 1 s", status.GetProperty("last_error").GetString());
        }
        finally
        {
            await stop.CancelAsync();
            await accepting;
            held.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void BadDonefileLinesAreReportedWithTheirLineAndSkipped()
    {
        using var plane = new ControlPlane();
        var keys = ControlPlane.Keys(2000, 3);
        File.WriteAllText(plane.Directory.Combine("done", "base.txt"), "this is not json\n{\"id\": \"90\", \"key\": \"90\"}\n");
        plane.Publish("100", keys);
        File.AppendAllText(plane.Directory.Combine("done", "base.txt"), "{\"id\": \"50\", \"key\": \"50\", \"input\": \"/nowhere\"}\n");
        plane.WaitActive("100_100");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (plane.TransferStatus().GetProperty("donefile_errors").GetInt32() < 3 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }

        var log = plane.Transfer.Output;
        Assert.Contains("base.txt: line 1: not JSON", log);
        Assert.Contains("base.txt: line 2: missing field \"input\"", log);
        Assert.Contains("base.txt: line 4: id 50 is not newer than id 100 on an earlier line; skipped", log);
        Assert.Equal("100_100", plane.TransferStatus().GetProperty("current_version").GetString());
    }

    [Fact]
    public void APackageWithOneFlippedByteIsRefusedAtStageAndTheOldVersionKeepsServing()
    {
        using var plane = new ControlPlane();
        var keys = ControlPlane.Keys(5000, 5);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");

        // Build version 300 ahead of time (the transfer will not build it again), then flip one
        // byte of shard 1's values, as a bad disk or copy would; only then append its line (the
        // transfer watches the donefile and would start building it at once).
        plane.Publish("300", ControlPlane.Keys(5000, 7), announce: false);
        CubeProcess.Run(plane.Directory.Path, "build", "--input", plane.Directory.Combine("data", "300"), "--output", plane.Directory.Combine("output"), "--dict", ControlPlane.Dict, "--shards", "2", "--version", "300").Ok();
        var values = plane.Directory.Combine("output", "300_300", "emb_part1", "values.bin");
        var bytes = File.ReadAllBytes(values);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(values, bytes);
        plane.Announce("300");

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (plane.TransferStatus().GetProperty("versions_failed").GetInt32() == 0 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(200);
        }

        var status = plane.TransferStatus();
        Assert.Equal(1, status.GetProperty("versions_failed").GetInt32());
        Assert.Equal("100_100", status.GetProperty("current_version").GetString());
        Assert.Contains("checksum mismatch", status.GetProperty("last_error").GetString());
        Assert.Equal("100", plane.AgentStatus(1, 0).GetProperty("live_version").GetString());
        Assert.Equal("100", plane.AgentStatus(0, 0).GetProperty("live_version").GetString()); // staged 300, never activated
        Assert.Contains("300_300", plane.AgentStatus(0, 0).GetProperty("staged").EnumerateArray().Select(e => e.GetString()));

        // The next version that goes live everywhere clears last_error (it outlived the success).
        plane.Publish("400", ControlPlane.Keys(500, 8));
        plane.WaitActive("400_400");
        var after = plane.TransferStatus();
        Assert.True(!after.TryGetProperty("last_error", out var lastError) || lastError.ValueKind == System.Text.Json.JsonValueKind.Null, after.ToString());
    }

    [Fact]
    public async Task CommandsWithoutTheTokenOrWithAPathAreRejectedAndWriteNothing()
    {
        using var plane = new ControlPlane();
        var agentUrl = $"http://127.0.0.1:{plane.Agents[0][0].HttpPort}/agent/";
        var dataDir = plane.Directory.Combine("agent00");
        var before = Directory.EnumerateFileSystemEntries(dataDir, "*", SearchOption.AllDirectories).ToList();

        using var noToken = await plane.Http.PostAsync(agentUrl + "stage", Json("{\"version\":\"100\",\"base\":\"100\",\"mode\":\"base\"}"));
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);

        foreach (var body in new[]
        {
            "{\"version\":\"../../etc\",\"base\":\"../../etc\",\"mode\":\"base\"}",
            "{\"version\":\"100\",\"base\":\"/tmp/x\",\"mode\":\"delta\"}",
            "{\"version\":\"100\",\"base\":\"100\",\"mode\":\"rm -rf /\"}",
            "not json",
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, agentUrl + "stage") { Content = Json(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ControlPlane.Token);
            using var response = await plane.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Post, agentUrl + "activate") { Content = Json("{\"version\":\"100\",\"base\":\"100\"}") })
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token-at-all");
            using var response = await plane.Http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var package = await plane.Http.GetAsync($"http://127.0.0.1:{plane.TransferPort}/packages/100_100/emb_part0/values.bin");
        Assert.Equal(HttpStatusCode.Unauthorized, package.StatusCode);
        using var poll = await plane.Http.PostAsync($"http://127.0.0.1:{plane.TransferPort}/transfer/poll", Json("{}"));
        Assert.Equal(HttpStatusCode.Unauthorized, poll.StatusCode);

        Assert.Equal(before, Directory.EnumerateFileSystemEntries(dataDir, "*", SearchOption.AllDirectories).ToList());
        Assert.Equal(string.Empty, plane.AgentStatus(0, 0).GetProperty("live_version").GetString());
    }

    [Fact]
    public async Task AnAgentWithAnEmptyDataDirIsNotReadyAndARestartedAgentServesItsLastVersion()
    {
        using var plane = new ControlPlane();
        await using (var empty = new CubeClient(plane.ClientConf()))
        {
            // No version delivered yet: every key fails with the servers' NotReady, never "missing".
            using var result = await empty.LookupAsync(ControlPlane.Dict, new ulong[] { 1, 2, 3, 4 });
            Assert.All(result.Status, s => Assert.Equal(KeyStatus.Failed, s));
            Assert.Contains(result.Errors, e => e.Error.Contains("no version is live yet", StringComparison.Ordinal));
        }

        var keys = ControlPlane.Keys(3000, 9);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");
        plane.Publish("101", keys.Take(500), patchOf: "100");
        plane.WaitActive("100_101");
        plane.Transfer.Dispose(); // nobody will tell the agents anything now
        plane.RestartAgent(0, 0);
        plane.RestartAgent(1, 1);
        Assert.Equal("100_101", plane.AgentStatus(0, 0).GetProperty("live_version").GetString());
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);
    }

    [Fact]
    public void ATransferKilledMidRolloutFinishesAfterARestartWithoutRedoingSteps()
    {
        // Downloads are throttled so that the kill lands while agents are staging.
        using var plane = new ControlPlane(extraConf: "serve_bytes_per_second: 400000");
        var keys = ControlPlane.Keys(60_000, 11);
        plane.Publish("100", keys);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long[] bytesAtKill;
        while (true)
        {
            Assert.True(DateTime.UtcNow < deadline, plane.Transfer.Output);
            bytesAtKill = [.. Enumerable.Range(0, 4).Select(i => plane.AgentStatus(i / 2, i % 2).GetProperty("staging") is { } st && st.GetArrayLength() > 0 ? st[0].GetProperty("bytes").GetInt64() : 0)];
            if (bytesAtKill.Any(b => b > 200_000))
            {
                break; // the build is done and downloads are well under way
            }

            Thread.Sleep(50);
        }

        plane.Transfer.Signal("KILL");
        Assert.True(plane.Transfer.WaitForExit(TimeSpan.FromSeconds(10)));
        plane.RestartTransfer();
        plane.WaitActive("100_100", TimeSpan.FromSeconds(90));
        Assert.Contains("resuming 100_100 at step 'staging' (built: True", plane.Transfer.Output);
        Assert.DoesNotContain("building 100_100", plane.Transfer.Output); // the build was not repeated
        for (var i = 0; i < 4; i++)
        {
            // An agent whose download the kill cut (the transfer is the origin) staged once more,
            // resuming where it stopped; none started over or staged more than that.
            var agent = plane.AgentStatus(i / 2, i % 2);
            var downloads = agent.GetProperty("downloads").GetInt64();
            var resumed = agent.GetProperty("staging").EnumerateArray().Sum(x => x.GetProperty("resumed_bytes").GetInt64());
            Assert.True(downloads <= 2, $"agent {i}: {agent}");
            Assert.True(downloads == 1 || resumed > 0 || bytesAtKill[i] == 0, $"agent {i} had {bytesAtKill[i]} bytes at the kill and started over: {agent}");
        }
    }

    [Fact]
    public async Task AnAgentKilledMidDownloadResumesAndNeverActivatesAPartialPackage()
    {
        using var plane = new ControlPlane(extraConf: "serve_bytes_per_second: 300000");
        var keys = ControlPlane.Keys(60_000, 13);
        plane.Publish("100", keys);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long partial = 0;
        while (partial == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, plane.Transfer.Output);
            var staging = plane.AgentStatus(1, 0).GetProperty("staging");
            partial = staging.GetArrayLength() == 0 ? 0 : staging[0].GetProperty("bytes").GetInt64();
            Thread.Sleep(50);
        }

        Thread.Sleep(300);
        plane.Agents[1][0].Signal("KILL");
        Assert.True(plane.Agents[1][0].WaitForExit(TimeSpan.FromSeconds(10)));
        var parts = Directory.EnumerateFiles(plane.Directory.Combine("agent10"), "*.part", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(parts); // a partial download is on disk, under .downloads
        Assert.False(File.Exists(plane.Directory.Combine("agent10", "ACTIVE.json")));
        Assert.False(Directory.Exists(plane.Directory.Combine("agent10", "100_100")));

        plane.RestartAgent(1, 0);
        plane.WaitActive("100_100", TimeSpan.FromSeconds(90));
        var status = plane.AgentStatus(1, 0);
        Assert.Equal("100", status.GetProperty("live_version").GetString());
        var resumed = status.GetProperty("staging").EnumerateArray().Sum(s => s.GetProperty("resumed_bytes").GetInt64());
        Assert.True(resumed > 0, $"the download started over: {status}");
        Assert.Empty(Directory.EnumerateFiles(plane.Directory.Combine("agent10"), "*.part", SearchOption.AllDirectories));
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);
    }

    [Fact]
    public async Task DonefilesAndInputsAreFetchedOverHttp()
    {
        var root = new TempDirectory();
        using var files = new StaticFileServer(root.Path);
        using var plane = new ControlPlane($"http://127.0.0.1:{files.Port}/done");
        Directory.CreateDirectory(root.Combine("done"));
        var keys = ControlPlane.Keys(4000, 15);

        // The trainer's files sit on the file server: input paths in the donefile are paths on it,
        // which the transfer prefixes with the donefile server's scheme, host and port.
        plane.Publish("100", keys, inputAs: "/inputs/100");
        Directory.CreateDirectory(root.Combine("inputs", "100"));
        File.Copy(plane.Directory.Combine("data", "100", "part-00000"), root.Combine("inputs", "100", "part-00000"));
        File.Copy(plane.Directory.Combine("done", "base.txt"), root.Combine("done", "base.txt"));
        plane.WaitActive("100_100");
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);
        Assert.True(File.Exists(plane.Directory.Combine("tmp", "..", "donefile", "base.txt"))); // kept locally, like the original
        root.Dispose();
    }

    [Fact]
    public async Task AReplicaThatStaysDownIsSkippedAndCaughtUpWhenItReturns()
    {
        using var plane = new ControlPlane();
        var keys = ControlPlane.Keys(4000, 17);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");
        var (dataPort, httpPort) = (plane.Agents[1][1].DataPort, plane.Agents[1][1].HttpPort);
        plane.Agents[1][1].Signal("KILL");
        plane.Agents[1][1].WaitForExit(TimeSpan.FromSeconds(10));

        plane.Publish("101", keys.Take(1000), patchOf: "100");
        plane.WaitActive("100_101", TimeSpan.FromSeconds(90)); // policy skip: the other replica of shard 1 carries it
        var instances = plane.Get($"http://127.0.0.1:{plane.TransferPort}/instance/status").GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(250, instances.Single(i => i.GetProperty("shard").GetInt32() == 1 && i.GetProperty("replica").GetInt32() == 1).GetProperty("status_id").GetInt32());

        plane.Agents[1][1] = plane.StartAgent(1, 1, dataPort, httpPort);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (plane.AgentStatus(1, 1).GetProperty("live_version").GetString() != "100_101")
        {
            Assert.True(DateTime.UtcNow < deadline, plane.Transfer.Output);
            Thread.Sleep(200);
        }

        // The agent switches before its reply reaches the transfer, which logs after the reply.
        while (!plane.Transfer.Output.Contains("shard 1 replica 1 caught up to 100_101", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }

        Assert.Contains("shard 1 replica 1 caught up to 100_101", plane.Transfer.Output);
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");
}
