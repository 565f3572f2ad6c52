using System.Net.Sockets;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>Issue 14 item 7 with the real binary: under a watchdog (systemd's NOTIFY_SOCKET and
/// WATCHDOG_USEC), a server sends READY=1, then WATCHDOG=1 at half the interval.</summary>
public sealed class WatchdogTests
{
    [Fact]
    public void AServerPingsTheWatchdogAtHalfItsInterval()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        socket.ReceiveTimeout = 10_000;
        Directory.CreateDirectory(dir.Combine("data"));
        using var server = ServerProcess.StartWithEnvironment(
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path, ["WATCHDOG_USEC"] = "1000000" },
            "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir.Combine("data"), "--dict", "emb");
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
}
