using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>
/// The HTTP port's limits are flags, hold against a real process, and every refusal is
/// counted by reason on /metrics (slow headers, too many connections, a body over the limit).
/// </summary>
public sealed class HttpLimitsTests
{
    private const string Token = "http-limits-token-0123456789abcdef";

    [Fact]
    public void SlowHeadersAreCutOffAndCountedWhileOtherClientsAreServed()
    {
        using var dir = new TempDirectory();
        using var node = Start(dir, "--http-header-timeout-seconds", "1");
        using var slow = Connect(node);
        slow.Send("GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: "u8);
        Assert.Equal(200, (int)Get(node, "/status").StatusCode);
        Assert.True(Closed(slow, TimeSpan.FromSeconds(15)), "a client that never finished its headers was kept");
        var metrics = Metrics(node);
        Assert.Contains("cube_http_connection_errors_total{reason=\"request_headers_timeout\"} 1", metrics);
        Assert.Contains("cube_http_requests_total{route=\"/status\",code=\"200\"} 1", metrics);
        Assert.Contains("cube_http_request_duration_seconds_bucket{route=\"/status\",le=\"+Inf\"} 1", metrics);
    }

    [Fact]
    public void ConnectionsOverTheLimitAreClosedAtOnceAndCounted()
    {
        using var dir = new TempDirectory();
        using var node = Start(dir, "--http-max-connections", "3");
        var held = Enumerable.Range(0, 3).Select(_ => Connect(node)).ToList();
        try
        {
            Thread.Sleep(300); // let Kestrel count them
            using var extra = Connect(node);
            extra.Send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"u8);
            Assert.True(Closed(extra, TimeSpan.FromSeconds(10)), "a connection over --http-max-connections was served");
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }

        Thread.Sleep(300);
        Assert.Matches("cube_http_refusals_total\\{reason=\"max_connections\"\\} [1-9]", Metrics(node));
    }

    [Fact]
    public async Task ABodyOverTheLimitIs413WithTheFlagNamed()
    {
        using var dir = new TempDirectory();
        using var node = Start(dir, "--http-max-body-kb", "1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{node.HttpPort}/agent/stage")
        {
            Content = new StringContent("{\"version\":\"100\",\"base\":\"100\",\"mode\":\"base\",\"pad\":\"" + new string('x', 4096) + "\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await http.SendAsync(request);
        Assert.Equal(413, (int)response.StatusCode);
        Assert.Contains("--http-max-body-kb", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var metrics = Metrics(node);
        Assert.Contains("cube_http_requests_total{route=\"/agent/stage\",code=\"413\"} 1", metrics);
        Assert.Contains("cube_http_errors_total 0", metrics); // a client's fault is not an internal error
    }

    private static ServerProcess Start(TempDirectory dir, params string[] extra)
    {
        File.WriteAllText(dir.Combine("token"), Token + "\n");
        return ServerProcess.Start([.. new[] { "run", "--roles", "server,agent", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0",
            "--data-dir", dir.Combine("node"), "--dict", "emb", "--shard", "0", "--transfer", "http://127.0.0.1:9", "--token-file", dir.Combine("token") }, .. extra]);
    }

    private static Socket Connect(ServerProcess node)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        socket.Connect("127.0.0.1", node.HttpPort);
        return socket;
    }

    private static HttpResponseMessage Get(ServerProcess node, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return http.Send(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{node.HttpPort}{path}"));
    }

    private static string Metrics(ServerProcess node) => Get(node, "/metrics").Content.ReadAsStringAsync().Result;

    /// <summary>True when the peer closed the connection within <paramref name="within"/> (a reply before the close is read and skipped).</summary>
    private static bool Closed(Socket socket, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        var buffer = new byte[4096];
        while (DateTime.UtcNow < deadline)
        {
            socket.ReceiveTimeout = Math.Max(1, (int)(deadline - DateTime.UtcNow).TotalMilliseconds);
            try
            {
                if (socket.Receive(buffer) == 0)
                {
                    return true;
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                return true;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return false;
            }
        }

        return false;
    }
}
