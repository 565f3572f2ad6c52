using System.Globalization;

namespace Appliance.E2E.Tests;

/// <summary>issue 11: never silently wrong, never silently stuck (items 3, 4 and 8 so far).</summary>
public sealed class RecoveryTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    [Fact]
    public void ASecondServerOnAPortInUseExitsOneNamingThePort()
    {
        using var first = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        var port = first.DataPort.ToString(CultureInfo.InvariantCulture);
        var second = CubeProcess.Run(table.Directory.Path, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", port, "--http-port", "0", "--data-dir", table.Packages, "--dict", ClusterFixture.Dict, "--shard", "1");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"data port {port} on 127.0.0.1 is already in use", second.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", second.Stderr, StringComparison.Ordinal);
        Assert.False(first.HasExited);

        var http = first.HttpPort.ToString(CultureInfo.InvariantCulture);
        var third = CubeProcess.Run(table.Directory.Path, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", http, "--data-dir", table.Packages, "--dict", ClusterFixture.Dict);
        Assert.Equal(1, third.ExitCode);
        Assert.Contains(http, third.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", third.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void WatchingTheDataDirectoryIsRefusedWithTheAgent()
    {
        var token = table.Directory.Combine("watch-token");
        File.WriteAllText(token, "0123456789abcdef0123\n");
        var r = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "server,agent", "--data-dir", table.Directory.Combine("agent-data"), "--dict", ClusterFixture.Dict, "--transfer", "http://127.0.0.1:8099", "--token-file", token, "--watch-seconds", "5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("option --watch-seconds: not with the agent role", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadDonefileLineFailsItsVersionAndPollingGoesOn()
    {
        using var plane = new ControlPlane();
        File.AppendAllText(plane.Directory.Combine("done", "base.txt"), "{\"id\":\"50\",\"key\":\"50\",\"input\":\"http://[bad\"}\n");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!plane.Transfer.Output.Contains("50_50 failed", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, plane.Transfer.Output);
            Thread.Sleep(100);
        }

        var history = plane.Get($"http://127.0.0.1:{plane.TransferPort}/dict/deploy/history").GetProperty("data").EnumerateArray().ToList();
        var failed = Assert.Single(history, v => v.GetProperty("version").GetString() == "50");
        Assert.Equal(255, failed.GetProperty("status").GetInt32());
        Assert.Contains("[bad", failed.GetProperty("error").GetString(), StringComparison.Ordinal);

        var polls = plane.TransferStatus().GetProperty("polls").GetInt64();
        while (plane.TransferStatus().GetProperty("polls").GetInt64() < polls + 2)
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(30), "the transfer stopped polling");
            Thread.Sleep(100);
        }

        plane.Publish("100", Enumerable.Range(0, 2000).Select(i => (ulong)i));
        plane.WaitActive("100_100");
        Assert.False(plane.Transfer.HasExited);
    }
}
