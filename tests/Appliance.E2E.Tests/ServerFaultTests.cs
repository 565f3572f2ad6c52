using System.Net.Sockets;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>Bad bytes and bad clients against a real server process: each gets an error reply or
/// has its own connection closed, and everyone else keeps being served.</summary>
public sealed class ServerFaultTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    private static Socket Connect(ServerProcess server)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        socket.Connect("127.0.0.1", server.DataPort);
        return socket;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Socket, byte[][]> Pending = [];

    /// <summary>Reads one whole reply frame (bytes past it are kept for the next call); null if
    /// the server closed the connection first.</summary>
    private static (FrameHeader Header, byte[] Payload)? ReadFrame(Socket socket)
    {
        var held = Pending.GetValue(socket, _ => [[]]);
        var buffer = new byte[1 << 20];
        held[0].CopyTo(buffer, 0);
        var end = held[0].Length;
        while (true)
        {
            var scan = FrameScanner.TryScan(buffer.AsSpan(0, end), 1 << 20, out var header, out var error);
            Assert.NotEqual(ScanResult.InvalidData, scan);
            if (scan == ScanResult.Done)
            {
                held[0] = buffer.AsSpan(header.FrameLength, end - header.FrameLength).ToArray();
                return (header, buffer.AsSpan(FrameHeader.Size, header.PayloadLength).ToArray());
            }

            var n = socket.Receive(buffer, end, buffer.Length - end, SocketFlags.None);
            if (n == 0)
            {
                return null;
            }

            end += n;
        }
    }

    private static bool ClosedByServer(Socket socket)
    {
        try
        {
            var buffer = new byte[1 << 16];
            while (true)
            {
                if (socket.Receive(buffer) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static void AssertPingWorks(ServerProcess server)
    {
        using var socket = Connect(server);
        var ping = new FrameBuffer();
        ping.BeginFrame(Opcode.Ping, FrameFlags.None, 77);
        ping.Write("hello"u8);
        ping.EndFrame();
        socket.Send(ping.WrittenSpan);
        var reply = ReadFrame(socket) ?? throw new InvalidOperationException("no ping reply");
        Assert.Equal(77u, reply.Header.RequestId);
        Assert.True(reply.Header.IsResponse && !reply.Header.IsError);
        Assert.Equal("hello"u8.ToArray(), reply.Payload);
    }

    private static (ErrorCode, string) AssertError(Socket socket)
    {
        var reply = ReadFrame(socket) ?? throw new InvalidOperationException("connection closed without an error reply");
        Assert.True(reply.Header.IsError);
        return ErrorPayload.Read(reply.Payload);
    }

    [Fact]
    public void GarbageBytesGetAnErrorAndCloseOnlyThatConnection()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        using var bystander = Connect(server);
        using (var socket = Connect(server))
        {
            socket.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8);
            var (code, message) = AssertError(socket);
            Assert.Equal(ErrorCode.BadFrame, code);
            Assert.Contains("bad magic", message);
            Assert.True(ClosedByServer(socket));
        }

        AssertPingWorks(server);
        Assert.False(server.HasExited);
    }

    [Fact]
    public void AFrameLongerThanTheMaximumIsRefusedFromItsHeader()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0, "--max-frame-mb", "1");
        using var socket = Connect(server);
        var header = new byte[FrameHeader.Size];
        new FrameHeader(Opcode.Lookup, FrameFlags.None, 5, (1 << 20) + 1).Write(header);
        socket.Send(header); // no payload follows: the refusal must not wait for it
        var (code, message) = AssertError(socket);
        Assert.Equal(ErrorCode.BadFrame, code);
        Assert.Contains("payload length 1048577 exceeds the maximum 1048576", message);
        Assert.True(ClosedByServer(socket));
        AssertPingWorks(server);
    }

    [Fact]
    public void AnUnknownOpcodeIsAnErrorReplyAndTheConnectionStaysUsable()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        using var socket = Connect(server);
        var frame = new FrameBuffer();
        frame.BeginFrame((Opcode)99, FrameFlags.None, 3);
        frame.EndFrame();
        LookupCodec.WriteRequest(frame, 4, "nope", [1]);
        frame.BeginFrame(Opcode.Lookup, FrameFlags.None, 6);
        frame.Write([1, 0, (byte)'e']); // malformed payload: dict length 1, then no key count
        frame.EndFrame();
        socket.Send(frame.WrittenSpan);
        Assert.Equal(ErrorCode.UnknownOpcode, AssertError(socket).Item1);
        var (code, message) = AssertError(socket);
        Assert.Equal(ErrorCode.UnknownDict, code);
        Assert.Contains("dict 'nope' is not served here", message);
        Assert.Equal(ErrorCode.BadRequest, AssertError(socket).Item1);

        var lookup = new FrameBuffer();
        var key = table.Reference.Keys.First(k => k % 2 == 0);
        LookupCodec.WriteRequest(lookup, 8, ClusterFixture.Dict, [key, 2]);
        socket.Send(lookup.WrittenSpan);
        var reply = ReadFrame(socket)!.Value;
        Assert.Equal(8u, reply.Header.RequestId);
        var slices = new (int Offset, int Length)[2];
        LookupCodec.ReadResponse(reply.Payload, slices);
        Assert.Equal(table.Reference[key], reply.Payload.AsSpan(slices[0].Offset, slices[0].Length).ToArray());
        Assert.Equal(-1, slices[1].Length);
    }

    /// <summary>A package file truncated under a running server killed it
    /// with SIGBUS at the next lookup (exit 135). With --in_mem true the server answers from its
    /// own copy of what it verified, whatever happens to the files.</summary>
    [Fact]
    public void AValuesFileTruncatedUnderAnInMemoryServerChangesNothingItServes()
    {
        using var dir = new TempDirectory();
        foreach (var file in Directory.EnumerateFiles(table.Packages, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(dir.Path, Path.GetRelativePath(table.Packages, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }

        using var server = ServerProcess.StartServer(dir.Path, ClusterFixture.Dict, 0, "--in_mem", "true");
        foreach (var values in Directory.EnumerateFiles(dir.Path, "values.bin", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(values, FileMode.Open, FileAccess.Write);
            stream.SetLength(Math.Min(stream.Length, 4096));
        }

        var keys = table.Reference.Keys.Where(k => Appliance.Core.Storage.ShardRouting.ShardOf(k, 2) == 0).Take(500).ToArray();
        using var socket = Connect(server);
        var lookup = new FrameBuffer();
        LookupCodec.WriteRequest(lookup, 9, ClusterFixture.Dict, keys);
        socket.Send(lookup.WrittenSpan);
        var reply = ReadFrame(socket) ?? throw new InvalidOperationException($"the server closed the connection (exited: {server.HasExited})");
        var slices = new (int Offset, int Length)[keys.Length];
        LookupCodec.ReadResponse(reply.Payload, slices);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(table.Reference[keys[i]], reply.Payload.AsSpan(slices[i].Offset, slices[i].Length).ToArray());
        }

        Assert.False(server.HasExited);
    }

    [Fact]
    public void ATruncatedFrameFollowedByACloseHarmsNobody()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        var frame = new FrameBuffer();
        LookupCodec.WriteRequest(frame, 1, ClusterFixture.Dict, [1, 2, 3, 4]);
        for (var cut = 1; cut < frame.Length; cut += 7)
        {
            using var socket = Connect(server);
            socket.Send(frame.WrittenSpan[..cut]);
            socket.Shutdown(SocketShutdown.Both);
        }

        AssertPingWorks(server);
    }

    [Fact]
    public void AClientThatNeverReadsIsDisconnectedAndOthersAreServedMeanwhile()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0, "--send-timeout-ms", "500");
        using var greedy = Connect(server);
        greedy.SendTimeout = 2000;
        var keys = table.Reference.Keys.Where(k => k % 2 == 0).Take(2000).ToArray();
        var request = new FrameBuffer();
        for (uint i = 0; i < 50; i++)
        {
            LookupCodec.WriteRequest(request, i, ClusterFixture.Dict, keys); // each reply ≈ 90 KB
        }

        var sent = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        try
        {
            while (DateTime.UtcNow < deadline)
            {
                greedy.Send(request.WrittenSpan); // replies pile up unread until the server gives up
                sent++;
                AssertPingWorks(server);
            }
        }
        catch (SocketException)
        {
            // our send blocked (the server stopped reading) or the server closed us: either way done
        }

        Assert.True(sent > 0);
        Assert.True(ClosedByServer(greedy), "the server should close a connection that does not read");
        AssertPingWorks(server);
    }

    [Fact]
    public void SigtermDrainsAndExitsZero()
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0);
        using var idle = Connect(server);
        AssertPingWorks(server);
        server.Signal("TERM");
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(15)), server.Output);
        Assert.Equal(0, server.ExitCode);
        Assert.Contains("stopped", server.Output);
        Assert.True(ClosedByServer(idle));
    }
}
