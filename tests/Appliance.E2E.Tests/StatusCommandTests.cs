using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>Issue 14 item 2: <c>cube status</c> shows the whole cluster from transfer.conf: every
/// replica up and live on the transfer's version → exit 0; a replica killed → DOWN, exit 1.</summary>
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

        plane.Agents[1][1].Signal("KILL");
        plane.Agents[1][1].WaitForExit(TimeSpan.FromSeconds(10));
        var degraded = CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer);
        Assert.Equal(1, degraded.ExitCode);
        Assert.Contains("3/4 replicas up, 0 behind, 1 down", degraded.Stdout, StringComparison.Ordinal);
        Assert.Contains(degraded.Lines, l => l.StartsWith("1     1 ", StringComparison.Ordinal) && l.Contains("DOWN", StringComparison.Ordinal));

        var json = JsonDocument.Parse(CubeProcess.Run(plane.Directory.Path, "status", "--config", "transfer.conf", "--transfer", transfer, "--json").Stdout).RootElement;
        Assert.Equal(1, json.GetProperty("down").GetInt32());
        Assert.Equal("down", json.GetProperty("replicas")[3].GetProperty("state").GetString());
        Assert.Equal("100_100", json.GetProperty("replicas")[0].GetProperty("live").GetString());
    }
}
