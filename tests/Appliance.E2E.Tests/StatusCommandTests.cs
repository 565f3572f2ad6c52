using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary><c>cube status</c> shows the whole cluster from transfer.conf:
/// every replica up and live on the transfer's version → exit 0, with the lookups a client made
/// through the cube.conf that <c>cube conf client</c> wrote (rate and p99 per replica); after a
/// rollout every replica on the new version; an engine that does not answer and a replica killed →
/// DOWN, exit 1.</summary>
public sealed class StatusCommandTests
{
    [Fact]
    public void TheClusterTableShowsEveryReplicaAndExitsNonZeroWhenOneIsDown()
    {
        using var plane = new ControlPlane(rows: 2_000);
        plane.Publish("100", ControlPlane.Keys(2_000, seed: 4));
        plane.WaitActive("100_100");
        var transfer = $"http://127.0.0.1:{plane.TransferPort}";

        var healthy = CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer);
        Assert.True(healthy.ExitCode == 0, healthy.Stdout + healthy.Stderr);
        Assert.Contains("current 100_100", healthy.Stdout, StringComparison.Ordinal);
        Assert.Contains("4/4 replicas up, 0 behind, 0 down", healthy.Stdout, StringComparison.Ordinal);
        Assert.Equal(4, healthy.Lines.Count(l => l.Contains(" ok ", StringComparison.Ordinal)));

        // The client's conf from the same topology, used by a real client against the live cluster.
        CubeProcess.Run(plane.Directory.Path, "conf", "client", "--from", "transfer.conf", "--out", "cube.conf").Ok();
        var keys = plane.Expected.Keys.Take(50).ToList();
        for (var i = 0; i < 20; i++)
        {
            var looked = CubeProcess.Run(plane.Directory.Path, ["lookup", "--conf", "cube.conf", .. keys.Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture))]).Ok();
            if (i == 0)
            {
                Assert.Equal(keys.Count, looked.Lines.Count(l => l.Length > 0));
                Assert.All(keys, k => Assert.Contains(looked.Lines, l => l.StartsWith($"{k}\t{Convert.ToHexStringLower(plane.Expected[k])}", StringComparison.Ordinal)));
            }
        }

        var busy = JsonDocument.Parse(CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer, "--json").Ok().Stdout).RootElement;
        var replicas = busy.GetProperty("replicas").EnumerateArray().ToList();
        Assert.True(replicas.Sum(r => r.GetProperty("lookups").GetInt64()) >= 20, busy.ToString());
        Assert.Contains(replicas, r => r.GetProperty("lookups_per_second").GetDouble() > 0 && r.GetProperty("lookup_p99_seconds").GetDouble() > 0);

        // A rollout: every replica ends on the new version, and says so.
        plane.Publish("101", ControlPlane.Keys(200, seed: 5), patchOf: "100");
        plane.WaitActive("100_101");
        var rolled = CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer);
        Assert.True(rolled.ExitCode == 0, rolled.Stdout + rolled.Stderr);
        Assert.Contains("current 100_101", rolled.Stdout, StringComparison.Ordinal);
        Assert.Equal(4, rolled.Lines.Count(l => l.Contains(" ok ", StringComparison.Ordinal) && l.Contains(" 100_101 ", StringComparison.Ordinal)));

        // An engine named on the command line that does not answer is shown DOWN and fails the check.
        var withEngine = CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer, "--engines", $"127.0.0.1:{ControlPlane.FreePort()}", "--timeout-ms", "500");
        Assert.Equal(1, withEngine.ExitCode);
        Assert.Contains("0/1 engines ready", withEngine.Stdout, StringComparison.Ordinal);
        Assert.Contains(withEngine.Lines, l => l.StartsWith("127.0.0.1:", StringComparison.Ordinal) && l.Contains("DOWN", StringComparison.Ordinal));

        plane.Agents[1][1].Signal("KILL");
        plane.Agents[1][1].WaitForExit(TimeSpan.FromSeconds(10));
        var degraded = CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer);
        Assert.Equal(1, degraded.ExitCode);
        Assert.Contains("3/4 replicas up, 0 behind, 1 down", degraded.Stdout, StringComparison.Ordinal);
        Assert.Contains(degraded.Lines, l => l.StartsWith("1     1 ", StringComparison.Ordinal) && l.Contains("DOWN", StringComparison.Ordinal));

        var json = JsonDocument.Parse(CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer, "--json").Stdout).RootElement;
        Assert.Equal(1, json.GetProperty("down").GetInt32());
        Assert.Equal("down", json.GetProperty("replicas")[3].GetProperty("state").GetString());
        Assert.Equal("100_101", json.GetProperty("replicas")[0].GetProperty("live").GetString());
    }
}
