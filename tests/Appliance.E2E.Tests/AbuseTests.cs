using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>
/// The abuse suite: each attack an attacker's review found, run against the real binary on
/// loopback for a bounded time, with the limits that fail it (RSS growth under 100 MB beyond the
/// native blocks kept for reuse, no native block left in use, every refusal named). Each one fails
/// on the binary before the fixes. <c>bench/abuse.sh</c> runs the same tests against two builds
/// with longer attacks and prints the table.
/// </summary>
public sealed class AbuseTests(AbuseFixture table) : IClassFixture<AbuseFixture>
{
    private const long MaxGrowth = 100L << 20;

    /// <summary>81 bytes claiming a shape of 2^28 elements took 2–4 GiB each, never returned.</summary>
    [Fact]
    public async Task OipShapesTheBytesDoNotBackCostNothing()
    {
        using var dir = new TempDirectory();
        EngineTests.BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 71), new ModelSpec { Dict = "emb" }, "1");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        var before = AbuseFixture.RssBytes(engine.Pid);
        const string json = """{"inputs":[{"name":"lines","datatype":"BYTES","shape":[268435456],"data":["x"]}]}""";
        const string binary = """{"inputs":[{"name":"lines","datatype":"BYTES","shape":[268435456],"parameters":{"binary_data_size":0}}]}""";
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var plain = await http.PostAsync("v2/models/model/infer", new StringContent(json, Encoding.UTF8, "application/json"));
            statuses.Add(plain.StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Post, "v2/models/model/infer") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(binary)) };
            request.Content.Headers.ContentType = new("application/octet-stream");
            request.Headers.Add("Inference-Header-Content-Length", Encoding.UTF8.GetByteCount(binary).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var withBinary = await http.SendAsync(request);
            statuses.Add(withBinary.StatusCode);
        }

        var after = AbuseFixture.RssBytes(engine.Pid);
        AbuseFixture.Report("oip-claimed-shape", before, after, null, string.Join(",", statuses.Distinct().Select(s => (int)s)));
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.BadRequest, s));
        Assert.InRange(after - before, long.MinValue, MaxGrowth);
    }

    /// <summary>One client pipelining 1,000-key MGETs to the proxy without reading: its RSS went
    /// 41 MB → 3.4 GB in 25 s and stayed there after the client left.</summary>
    [Fact]
    public void AProxyClientThatDoesNotReadIsHeldToItsWindow()
    {
        using var shard = ServerProcess.StartServer(table.Packages, AbuseFixture.Dict, 0);
        File.WriteAllText(table.Directory.Combine("cube.conf"), $$"""
            [{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 2000, "retry": 1, "backup_request": 0, "type": "ipport_list",
              "nodes": [{"ipport_list": "list://127.0.0.1:{{shard.DataPort}}"}]}]
            """);
        using var proxy = ServerProcess.Start("run", "--roles", "proxy", "--bind", "127.0.0.1", "--http-port", "0", "--conf", table.Directory.Combine("cube.conf"), "--resp-port", "0");
        var mget = AbuseFixture.Resp(["MGET", .. table.Keys.Take(1000)]);
        var (before, during, sent) = FloodUnread(proxy, proxy.RespPort, mget);

        var inUse = AbuseFixture.NativeInUse(proxy.HttpPort);
        Thread.Sleep(500);
        var after = AbuseFixture.RssBeyondCache(proxy.Pid, proxy.HttpPort);
        AbuseFixture.Report("resp-proxy-pipeline-unread", before, Math.Max(during, after), inUse, $"{sent} MGETs sent");
        Assert.InRange(during - before, long.MinValue, MaxGrowth);
        Assert.InRange(after - before, long.MinValue, MaxGrowth);
        Assert.Equal(0, inUse);

        // The proxy still serves others.
        using var other = AbuseFixture.Connect(proxy.RespPort);
        other.Send(AbuseFixture.Resp("PING"));
        var pong = new byte[7];
        Assert.Equal(7, other.Receive(pong));
        Assert.Equal("+PONG\r\n", Encoding.ASCII.GetString(pong));
    }

    /// <summary>The engine's predict opcode on --port: 68 MB → 1.19 GB in 15 s with 2.58 M samples
    /// queued for one client that did not read.</summary>
    [Fact]
    public void AnEngineClientThatDoesNotReadIsHeldToItsWindow()
    {
        using var dir = new TempDirectory();
        EngineTests.BuildTable(dir);
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 72), new ModelSpec { Dict = "emb" }, "1");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--port", "0", "--model", dir.Combine("model"), "--local", "--data-dir", dir.Combine("out"));
        var frame = new FrameBuffer();
        PredictCodec.WriteRequest(frame, 1, string.Empty, File.ReadLines(TestData.CriteoSample).Take(64).ToList());
        var request = frame.WrittenSpan.ToArray();
        var (before, during, sent) = FloodUnread(engine, engine.DataPort, request);

        var inUse = AbuseFixture.NativeInUse(engine.HttpPort);
        AbuseFixture.Report("engine-predict-pipeline-unread", before, during, inUse, $"{sent} frames of 64 samples sent");
        Assert.InRange(during - before, long.MinValue, MaxGrowth);
        Assert.Equal(0, inUse);
    }

    /// <summary>A 1M-key MGET (and a 1M-key lookup frame) whose client closes before reading: +48
    /// MB per connection that no one freed (Redis clients that give up on their own timeout do
    /// exactly this in normal operation).</summary>
    [Fact]
    public void RepliesOfClientsThatLeftAreReturned()
    {
        using var server = ServerProcess.StartServer(table.Packages, AbuseFixture.Dict, 0, "--resp-port", "0");
        var mget = AbuseFixture.Resp(["MGET", .. table.Keys]);
        var frame = new FrameBuffer();
        LookupCodec.WriteRequest(frame, 1, AbuseFixture.Dict, table.Keys.Select(ulong.Parse).ToArray());
        var lookup = frame.WrittenSpan.ToArray();
        void Abandon(int rounds)
        {
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (port, request) in new[] { (server.RespPort, mget), (server.DataPort, lookup) })
                {
                    using var client = AbuseFixture.Connect(port, receiveBuffer: 64 << 10);
                    client.Send(request);
                    Thread.Sleep(150); // the server is sending the reply
                    client.LingerState = new LingerOption(true, 0); // close with RST, unread
                }
            }
        }

        // Four rounds first: the cache of large blocks (at most 256 MiB, by design) and the
        // collector's heap reach their working size. A 1M-key command leaves ~50 MB of managed
        // garbage that the collector takes back on its own schedule, so RSS moves by tens of MB
        // between rounds (+209 MB over the 10 rounds here); a leak of the reply moved it by 48 MB per
        // abandoned connection (+960 MB).
        Abandon(4);
        var before = AbuseFixture.RssBeyondCache(server.Pid, server.HttpPort);
        Abandon(10);
        var inUse = AbuseFixture.NativeInUse(server.HttpPort);
        var after = AbuseFixture.RssBeyondCache(server.Pid, server.HttpPort);
        AbuseFixture.Report("abandoned-1M-key-replies", before, after, inUse, "10 RESP + 10 binary 1M-key replies, closed unread (RSS beyond the block cache)");
        Assert.Equal(0, inUse);
        Assert.InRange(after - before, long.MinValue, 4 * MaxGrowth);
    }

    /// <summary>--send-timeout-ms bounded a whole reply: a client reading steadily at 390 KB/s
    /// was cut off after 3.9 MB of 47 MB. It bounds a stall now.</summary>
    [Fact]
    public void ASlowReaderThatKeepsReadingGetsItsWholeReply()
    {
        using var server = ServerProcess.StartServer(table.Packages, AbuseFixture.Dict, 0, "--resp-port", "0", "--send-timeout-ms", "500");
        var mget = AbuseFixture.Resp(["MGET", .. table.Keys.Take(150_000)]);
        int expected;
        using (var fast = AbuseFixture.Connect(server.RespPort))
        {
            fast.Send(mget);
            expected = ReadReplyLength(fast);
        }

        using var slow = AbuseFixture.Connect(server.RespPort, receiveBuffer: 32 << 10);
        slow.Send(mget);
        var buffer = new byte[16 << 10];
        var received = 0;
        var watch = Stopwatch.StartNew();
        while (received < expected)
        {
            var n = slow.Receive(buffer);
            if (n == 0)
            {
                break;
            }

            received += n;
            Thread.Sleep(8); // ~2 MB/s: slower than any one send timeout allows for the whole reply
        }

        AbuseFixture.Report("slow-reader-2MBps", 0, 0, null, $"{received} of {expected} bytes in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.True(watch.Elapsed > TimeSpan.FromSeconds(1), "the reply was faster than the timeout: the test proves nothing");
        Assert.Equal(expected, received);
    }

    /// <summary>--resp-token-file protected RESP but GET /lookup served the same rows to anyone;
    /// AUTH took 20,000 wrong guesses in 0.03 s with nothing logged.</summary>
    [Fact]
    public async Task TheRespTokenProtectsLookupAndWrongGuessesAreSlowedCountedAndLogged()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("token"), "abuse-secret-0123456789\n");
        using var server = ServerProcess.StartServer(table.Packages, AbuseFixture.Dict, 0, "--resp-port", "0", "--resp-token-file", dir.Combine("token"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}/") };
        using (var open = await http.GetAsync($"lookup?keys={table.Keys[0]}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, open.StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, $"lookup?keys={table.Keys[0]}"))
        {
            request.Headers.Authorization = new("Bearer", "abuse-secret-0123456789");
            using var authorized = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
        }

        using var client = AbuseFixture.Connect(server.RespPort);
        var guesses = Enumerable.Range(0, 6).SelectMany(i => AbuseFixture.Resp("AUTH", $"guess-{i}")).ToArray();
        var watch = Stopwatch.StartNew();
        client.Send(guesses);
        var replies = new StringBuilder();
        var buffer = new byte[4096];
        while (System.Text.RegularExpressions.Regex.Count(replies.ToString(), "WRONGPASS") < 6)
        {
            var n = client.Receive(buffer);
            Assert.NotEqual(0, n);
            replies.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        var elapsed = watch.Elapsed;
        var failures = AbuseFixture.Metric(server.HttpPort, "cube_resp_auth_failures_total");
        AbuseFixture.Report("resp-auth-guessing", 0, 0, null, $"6 wrong AUTHs answered in {elapsed.TotalSeconds:F2} s; counted {failures}");
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(600), $"6 guesses took {elapsed.TotalMilliseconds:F0} ms (3 free, then 100+200+400 ms)");
        Assert.Equal(6, failures);
        Assert.True(WaitFor(() => server.Output.Contains("failed AUTH from 127.0.0.1", StringComparison.Ordinal)), server.Output);
    }

    /// <summary>One bit flipped in values.bin with its mtime put back (<c>touch -r</c>): "sound",
    /// exit 0, and both load modes served the tampered row.</summary>
    [Fact]
    public async Task PackageVerifyAndTheLoaderSeeABitFlippedWithItsMtimeRestored()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "1000", "--out", "t.txt").Ok();
        CubeProcess.Run(dir.Path, "build", "--input", "t.txt", "--input-format", "text", "--output", "pk", "--dict", "emb", "--shards", "1", "--version", "100").Ok();
        var shard = Directory.GetDirectories(dir.Combine("pk"), "emb_part0", SearchOption.AllDirectories).Single();
        Thread.Sleep(2100); // files changed in the last 2 s are never stamped
        CubeProcess.Run(dir.Path, "package", "verify", shard).Ok();
        Assert.True(File.Exists(Path.Combine(shard, ".verified")));

        var values = Path.Combine(shard, "values.bin");
        var mtime = File.GetLastWriteTimeUtc(values);
        using (var file = new FileStream(values, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = 200;
            var b = file.ReadByte();
            file.Position = 200;
            file.WriteByte((byte)(b ^ 0x04));
        }

        File.SetLastWriteTimeUtc(values, mtime);
        var verify = CubeProcess.Run(dir.Path, "package", "verify", shard);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("checksum mismatch", verify.Stdout + verify.Stderr, StringComparison.Ordinal);
        foreach (var inMem in new[] { "true", "false" })
        {
            // Refused loudly: the server does not start on a package it cannot verify (or, where
            // it does, it is not ready and says why) — never the tampered row with nothing logged.
            try
            {
                using var server = ServerProcess.StartServer(dir.Combine("pk"), "emb", 0, "--in_mem", inMem);
                using var http = new HttpClient();
                var status = await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/status");
                Assert.Matches("\"ready\":\\s*false", status);
                Assert.True(WaitFor(() => server.Output.Contains("checksum mismatch", StringComparison.Ordinal)), server.Output);
            }
            catch (AggregateException e) when (e.InnerException is InvalidOperationException exited && exited.Message.Contains("cube exited with", StringComparison.Ordinal))
            {
                Assert.Contains("checksum mismatch", exited.Message, StringComparison.Ordinal);
            }
        }

        AbuseFixture.Report("tampered-package-touch-r", 0, 0, null, "verify exit 1; both load modes refuse it");
    }

    /// <summary><c>cube status</c> against hostile nodes: a bogus charset threw an
    /// AggregateException and printed no table; a 700 MB body took 4.3 GB; escape sequences in a
    /// status field reached the terminal raw.</summary>
    [Fact]
    public void CubeStatusReadsHostileNodesAsDownOrEscapedNeverRaw()
    {
        using var dir = new TempDirectory();
        using var bogus = new HostileNode(HostileNode.Kind.BogusCharset);
        using var huge = new HostileNode(HostileNode.Kind.HugeBody);
        using var escapes = new HostileNode(HostileNode.Kind.Escapes);
        using var renamed = new HostileNode(HostileNode.Kind.RenamedField);
        File.WriteAllText(dir.Combine("token"), "status-token-0123456789");
        File.WriteAllText(dir.Combine("transfer.conf"), $"""
            [default]
            dict_name: emb
            donefile_address: {dir.Combine("done")}
            output_address: {dir.Combine("output")}
            tmp_address: {dir.Combine("tmp")}
            shard_num: 1
            copy_num: 3
            transfer_address: 127.0.0.1
            token_file: {dir.Combine("token")}

            [cube_agent]
            agent0_0: 127.0.0.1:{huge.Port}
            cube0_0: 127.0.0.1:1:{dir.Combine("a0")}
            agent0_1: 127.0.0.1:{escapes.Port}
            cube0_1: 127.0.0.1:2:{dir.Combine("a1")}
            agent0_2: 127.0.0.1:{renamed.Port}
            cube0_2: 127.0.0.1:3:{dir.Combine("a2")}
            """);
        var watch = Stopwatch.StartNew();
        var status = CubeProcess.Run(dir.Path, "status", "--config", "transfer.conf", "--transfer", $"http://127.0.0.1:{bogus.Port}", "--timeout-ms", "3000");
        AbuseFixture.Report("status-hostile-nodes", 0, 0, null, $"exit {status.ExitCode} in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(1, status.ExitCode);
        Assert.DoesNotContain('\u001b', status.Stdout);
        Assert.Contains("current 100_100", status.Stdout, StringComparison.Ordinal); // the bogus charset is read as bytes
        Assert.Contains(status.Lines, l => l.Contains($":{huge.Port}", StringComparison.Ordinal) && l.Contains("DOWN", StringComparison.Ordinal) && l.Contains("over 1048576 bytes", StringComparison.Ordinal));
        Assert.Contains("\\u001B[2J", status.Stdout, StringComparison.Ordinal);
        Assert.Contains(status.Lines, l => l.Contains($":{renamed.Port}", StringComparison.Ordinal) && l.Contains("DOWN", StringComparison.Ordinal) && l.Contains("live_version", StringComparison.Ordinal)); // read typed: a missing field is named, never read as empty
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20));
    }

    /// <summary>One client sends <paramref name="request"/> to <paramref name="port"/> over and over
    /// for the attack's duration without reading a byte; the target's RSS beyond its block cache
    /// before and at the end (the client still connected), and how many requests went out whole.</summary>
    private static (long Before, long During, long Sent) FloodUnread(ServerProcess target, int port, byte[] request)
    {
        var before = AbuseFixture.RssBeyondCache(target.Pid, target.HttpPort);
        using var client = AbuseFixture.Connect(port, receiveBuffer: 64 << 10);
        var sent = AbuseFixture.PipelineWithoutReading(client, request, AbuseFixture.Duration);
        return (before, AbuseFixture.RssBeyondCache(target.Pid, target.HttpPort), sent);
    }

    private static bool WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(50);
        }

        return false;
    }

    /// <summary>The length of one RESP array reply of bulk strings (read whole).</summary>
    private static int ReadReplyLength(Socket socket)
    {
        var data = new List<byte>();
        var buffer = new byte[1 << 16];
        while (true)
        {
            var n = socket.Receive(buffer);
            Assert.NotEqual(0, n);
            data.AddRange(buffer.AsSpan(0, n));
            if (ReplyEnd(data) is { } end)
            {
                return end;
            }
        }
    }

    private static int? ReplyEnd(List<byte> data)
    {
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(data);
        var at = bytes.IndexOf("\r\n"u8);
        if (at < 0)
        {
            return null;
        }

        var count = int.Parse(Encoding.ASCII.GetString(bytes[1..at]), System.Globalization.CultureInfo.InvariantCulture);
        at += 2;
        for (var i = 0; i < count; i++)
        {
            var line = bytes[at..].IndexOf("\r\n"u8);
            if (line < 0)
            {
                return null;
            }

            var length = int.Parse(Encoding.ASCII.GetString(bytes.Slice(at + 1, line - 1)), System.Globalization.CultureInfo.InvariantCulture);
            at += line + 2 + (length < 0 ? 0 : length + 2);
            if (at > bytes.Length)
            {
                return null;
            }
        }

        return at;
    }

    /// <summary>An HTTP node that answers GET /status the way an attacker would.</summary>
    private sealed class HostileNode : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Kind _kind;

        public HostileNode(Kind kind)
        {
            _kind = kind;
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptAsync);
        }

        public enum Kind
        {
            BogusCharset,
            HugeBody,
            Escapes,
            RenamedField,
        }

        public int Port { get; }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(() => ServeAsync(socket));
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            using (socket)
            {
                try
                {
                    var request = new byte[4096];
                    await socket.ReceiveAsync(request);
                    switch (_kind)
                    {
                        case Kind.BogusCharset:
                            await SendAsync(socket, "application/json; charset=bogus", """{"transfer": {"dict": "emb", "current_version": "100_100", "in_progress": "", "last_error": null, "versions_activated": 1, "versions_failed": 0, "donefile_errors": 0, "polls": 1}}""");
                            break;
                        case Kind.Escapes:
                            // Whole status records (cube status reads them typed: a record missing a required field is a DOWN node), with escapes in their text.
                            await SendAsync(socket, "application/json", """
                                {"server": {"role": "server", "dict": "emb", "shard": 0, "live_version": "100_100\u001b[2J", "base_version": "100", "layers": [], "keys": 1, "bytes_mapped": 0, "in_memory": true,
                                  "uptime_seconds": 1, "requests": 0, "lookups": 0, "keys_looked_up": 0, "misses": 0, "errors": 0, "connections": 0, "switches": 0},
                                 "agent": {"dict": "emb", "shard": 0, "live_version": "", "live_base": "", "live_layers": [], "staged": ["\u001b[31mall replicas up"], "staging": [], "transfer": "", "last_error": "\u001b]0;owned\u0007"}}
                                """);
                            break;
                        case Kind.RenamedField:
                            // A node of another schema: the field cube status needs is not there.
                            await SendAsync(socket, "application/json", """{"server": {"role": "server", "dict": "emb", "shard": 0, "version_live": "100_100"}}""");
                            break;
                        default:
                            // 700 MB announced, streamed until the client gives up.
                            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"server\": {\"live_version\": \""));
                            var chunk = Encoding.ASCII.GetBytes(new string('x', 1 << 16));
                            for (long sent = 0; sent < 700L << 20 && !_stop.IsCancellationRequested; sent += chunk.Length)
                            {
                                await socket.SendAsync(chunk);
                            }

                            break;
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // the client left: what it should do with this node
                }
            }
        }

        private static async Task SendAsync(Socket socket, string contentType, string body)
        {
            var bytes = Encoding.UTF8.GetBytes(body);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"));
            await socket.SendAsync(bytes);
        }
    }
}
