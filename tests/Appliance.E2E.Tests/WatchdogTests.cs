using System.Net.Sockets;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>Under a watchdog (systemd's NOTIFY_SOCKET and
/// WATCHDOG_USEC), a server sends READY=1, then WATCHDOG=1 at half the interval.</summary>
public sealed class WatchdogTests
{
    [Fact]
    public void AServerPingsTheWatchdogAtHalfItsInterval()
    {
        using var dir = new TempDirectory();
        using var socket = NotifySocket(dir, TimeSpan.FromSeconds(10));
        using var server = StartServer(dir, new() { ["WATCHDOG_USEC"] = "1000000" });
        var received = new List<string>();
        var buffer = new byte[256];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (received.Count(m => m == "WATCHDOG=1") < 3 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            received.Add(Encoding.ASCII.GetString(buffer, 0, socket.Receive(buffer)));
        }

        Assert.Equal("READY=1", received[0]);
        Assert.True(received.Count(m => m == "WATCHDOG=1") >= 3, string.Join(", ", received));
    }

    /// <summary>A version switch is bracketed for systemd: RELOADING=1 (with MONOTONIC_USEC, as
    /// Type=notify-reload requires) before, READY=1 with a STATUS= line naming what is served after;
    /// polls that find nothing new send nothing.</summary>
    [Fact]
    public void AVersionSwitchIsReloadingThenReadyWithItsStatus()
    {
        using var dir = new TempDirectory();
        using var socket = NotifySocket(dir, TimeSpan.FromSeconds(15));
        using var server = StartServer(dir, [], "--watch-seconds", "1");
        var buffer = new byte[512];
        string Next() => Encoding.ASCII.GetString(buffer, 0, socket.Receive(buffer));
        Assert.Equal("READY=1", Next());

        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "1000", "--dim", "4", "--seed", "5", "--out", "table.txt").Ok();
        CubeProcess.Run(dir.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "data", "--dict", "emb", "--shards", "1", "--version", "100").Ok();
        var reloading = Next();
        Assert.Matches(@"^RELOADING=1\nMONOTONIC_USEC=\d+$", reloading);
        Assert.Equal("READY=1\nSTATUS=emb shard 0: serving 100 (1000 keys)", Next());

        // Nothing new: the next polls are silent.
        socket.ReceiveTimeout = 2_500;
        Assert.Throws<SocketException>(() => socket.Receive(buffer));
    }

    /// <summary>systemd's side of sd_notify: a datagram socket in the test's directory.</summary>
    private static Socket NotifySocket(TempDirectory dir, TimeSpan timeout)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(dir.Combine("notify.sock")));
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        return socket;
    }

    /// <summary>A server on an empty data directory, notifying that socket.</summary>
    private static ServerProcess StartServer(TempDirectory dir, Dictionary<string, string> environment, params string[] extra)
    {
        Directory.CreateDirectory(dir.Combine("data"));
        environment["NOTIFY_SOCKET"] = dir.Combine("notify.sock");
        return ServerProcess.StartWithEnvironment(environment,
            ["run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir.Combine("data"), "--dict", "emb", .. extra]);
    }
}
