using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Tests.Protocol;

/// <summary>
/// The binary protocol's session without sockets: the same stream of requests, offered whole,
/// split at every byte and one byte per receive, gives the same replies in the same order.
/// </summary>
public sealed class FrameSessionTests
{
    [Fact]
    public void RepliesComeInRequestOrder()
    {
        var replies = Frames(Drive(RequestStream(), [RequestStream().Length]).Output);
        Assert.Equal(Enumerable.Range(1, 6).Select(i => (uint)i), replies.Select(r => r.Header.RequestId));
        Assert.All(replies, r => Assert.True(r.Header.IsResponse));
        Assert.Equal(Payload(3), replies[2].Payload);
        Assert.True(replies[5].Header.IsError); // the unknown opcode: a reply, not a closed connection
    }

    [Fact]
    public void SplitAtEveryByteGivesTheSameReplies()
    {
        var stream = RequestStream();
        var whole = Drive(stream, [stream.Length]).Output;
        for (var at = 1; at < stream.Length; at++)
        {
            var split = Drive(stream, [at, stream.Length - at]);
            Assert.False(split.Closing);
            Assert.True(whole.SequenceEqual(split.Output), $"split at byte {at}");
        }
    }

    [Fact]
    public void OneBytePerReceiveGivesTheSameReplies()
    {
        var stream = RequestStream();
        var whole = Drive(stream, [stream.Length]).Output;
        var bytewise = Drive(stream, [.. Enumerable.Repeat(1, stream.Length)]);
        Assert.Equal(whole, bytewise.Output);
    }

    [Fact]
    public void AFrameLargerThanTheReceiveBufferIsAssembled()
    {
        var buffer = new FrameBuffer();
        buffer.BeginFrame(Opcode.Ping, FrameFlags.None, 9);
        buffer.Write(new byte[200_000]);
        buffer.EndFrame();
        var result = Drive(buffer.WrittenSpan.ToArray(), [100_000, 100_016], initialBuffer: 1024);
        var reply = Assert.Single(Frames(result.Output));
        Assert.Equal(200_000, reply.Payload.Length);
    }

    [Theory]
    [InlineData("00112233445566778899aabbccddeeff", "bad magic")]
    [InlineData("434202010000000001000000000000ff", "protocol version 2")]
    [InlineData("4342010100000000010000000000ffff", "exceeds the maximum")]
    public void GarbageGetsBadFrameAndTheSessionCloses(string hex, string reason)
    {
        var bytes = Convert.FromHexString(hex).Concat(Ping(1)).ToArray();
        var result = Drive(bytes, [bytes.Length], maxPayload: 1024);
        Assert.True(result.Closing);
        var reply = Assert.Single(Frames(result.Output)); // nothing after the garbage is answered
        Assert.True(reply.Header.IsError);
        var (code, message) = ErrorPayload.Read(reply.Payload);
        Assert.Equal(ErrorCode.BadFrame, code);
        Assert.Contains(reason, message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOversizedFrameIsRefusedFromItsHeaderAlone()
    {
        var header = new byte[FrameHeader.Size];
        new FrameHeader(Opcode.Lookup, FrameFlags.None, 5, 1 << 30).Write(header);
        var session = new FrameSession(new EchoHandler(), 1 << 20, new Sink());
        Assert.Equal(0, session.Receive(header));
        Assert.True(session.Closing);
        Assert.Equal(5u, Frames(session.Output.ToArray())[0].Header.RequestId);
    }

    [Fact]
    public void AResponseFrameFromAClientIsRefused()
    {
        var buffer = new FrameBuffer();
        buffer.BeginFrame(Opcode.Ping, FrameFlags.Response, 4);
        buffer.EndFrame();
        var result = Drive(buffer.WrittenSpan.ToArray(), [FrameHeader.Size]);
        Assert.True(result.Closing);
        Assert.Equal(ErrorCode.BadFrame, ErrorPayload.Read(Frames(result.Output)[0].Payload).Code);
    }

    [Fact]
    public void AHandlerThatThrowsAnswersInternalAndTheSessionGoesOn()
    {
        var bytes = Lookup(1, fail: true).Concat(Ping(2)).ToArray();
        var result = Drive(bytes, [bytes.Length]);
        Assert.False(result.Closing);
        var replies = Frames(result.Output);
        Assert.Equal(ErrorCode.Internal, ErrorPayload.Read(replies[0].Payload).Code);
        Assert.Equal(2u, replies[1].Header.RequestId);
        Assert.False(replies[1].Header.IsError);
    }

    [Fact]
    public async Task AsyncOpcodesReplyThroughTheSinkAndDoNotHoldBackOthers()
    {
        var handler = new EchoHandler();
        var sink = new Sink();
        var session = new FrameSession(handler, 1 << 20, sink);
        var bytes = Frame(Opcode.Predict, 1, [7]).Concat(Ping(2)).ToArray();
        Assert.Equal(bytes.Length, session.Receive(bytes));
        Assert.Equal(2u, Assert.Single(Frames(session.Output.ToArray())).Header.RequestId);
        Assert.Empty(sink.Sent);

        handler.Release.SetResult();
        await session.DrainAsync(TimeSpan.FromSeconds(10));
        var late = Assert.Single(Frames([.. sink.Sent.SelectMany(b => b)]));
        Assert.Equal((1u, Opcode.Predict), (late.Header.RequestId, late.Header.Opcode));
        Assert.Equal([7], late.Payload);
    }

    /// <summary>An async opcode the handler can answer at once (a disk tier's lookup its cache
    /// holds) gets exactly one reply, inline, in order — the first cut answered it twice (once at
    /// once, then again through the synchronous path), and a client waiting on its next reply hung.</summary>
    [Fact]
    public async Task AnAsyncFrameAnsweredAtOnceGetsExactlyOneReply()
    {
        var handler = new EchoHandler();
        var sink = new Sink();
        var session = new FrameSession(handler, 1 << 20, sink);
        var bytes = Frame(Opcode.Predict, 1, [EchoHandler.Now]).Concat(Ping(2)).Concat(Frame(Opcode.Predict, 3, [3])).ToArray();
        Assert.Equal(bytes.Length, session.Receive(bytes));
        var inline = Frames(session.Output.ToArray());
        Assert.Equal([1u, 2u], inline.Select(f => f.Header.RequestId));
        Assert.Equal(Opcode.Predict, inline[0].Header.Opcode);
        Assert.Empty(sink.Sent);
        handler.Release.SetResult();
        await session.DrainAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3u, Assert.Single(Frames([.. sink.Sent.SelectMany(b => b)])).Header.RequestId);
    }

    /// <summary>The engine's predict opcode queued 2.58 M samples for one client that did not
    /// read: async frames stop at the window (synchronous ones before them are still answered).</summary>
    [Fact]
    public async Task AsyncFramesStopAtTheWindowUntilAReplyLeaves()
    {
        var handler = new EchoHandler();
        var sink = new Sink { Window = new ReplyWindow(maxReplies: 2, maxBytes: 1 << 20) };
        var session = new FrameSession(handler, 1 << 20, sink);
        var bytes = Frame(Opcode.Predict, 1, [1]).Concat(Ping(2)).Concat(Frame(Opcode.Predict, 3, [3])).Concat(Frame(Opcode.Predict, 4, [4])).Concat(Ping(5)).ToArray();
        var consumed = session.Receive(bytes);
        Assert.True(session.Paused);
        Assert.Equal(bytes.Length - Frame(Opcode.Predict, 4, [4]).Length - Ping(5).Length, consumed);
        Assert.Equal(2u, Assert.Single(Frames(session.Output.ToArray())).Header.RequestId);
        Assert.Equal(2, sink.Window.Replies);
        var resumable = session.WhenResumable();
        Assert.False(resumable.IsCompleted);

        handler.Release.SetResult();
        await resumable.WaitAsync(TimeSpan.FromSeconds(10));
        consumed += session.Receive(bytes.AsSpan(consumed));
        Assert.Equal(bytes.Length, consumed);
        Assert.False(session.Paused);
        await session.DrainAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 0L), (sink.Window.Replies, sink.Window.Bytes));
        Assert.Equal([1u, 3u, 4u], Frames([.. sink.Sent.SelectMany(b => b)]).Select(f => f.Header.RequestId).Order());
    }

    [Fact]
    public void TheWindowAdmitsOneRequestWhateverItsSizeAndCountsComputedBytes()
    {
        var window = new ReplyWindow(maxReplies: 4, maxBytes: 100);
        Assert.True(window.HasRoom);
        window.Enter();
        window.Computed(1000); // one reply over the byte limit: nothing more until it leaves
        Assert.False(window.HasRoom);
        var room = window.WaitForRoomAsync();
        Assert.False(room.IsCompleted);
        window.Sent(1000);
        Assert.True(room.IsCompleted);
        Assert.True(window.HasRoom);
        for (var i = 0; i < 4; i++)
        {
            window.Enter();
        }

        Assert.False(window.HasRoom);
    }

    /// <summary>Drives a session the way the transport does: receive, consume, compact, send.</summary>
    private static (byte[] Output, bool Closing) Drive(byte[] stream, int[] chunks, int maxPayload = 1 << 20, int initialBuffer = 64) =>
        SessionDriver.Drive(new FrameSession(new EchoHandler(), maxPayload, new Sink()), stream, chunks, initialBuffer);

    private static byte[] RequestStream() =>
        [.. Ping(1), .. Lookup(2), .. Frame(Opcode.Ping, 3, Payload(3)), .. Ping(4), .. Lookup(5), .. Frame((Opcode)99, 6, [1, 2, 3])];

    private static byte[] Payload(int n) => [.. Enumerable.Range(0, 40 * n).Select(i => (byte)(i * 7))];

    private static byte[] Ping(uint id) => Frame(Opcode.Ping, id, []);

    private static byte[] Lookup(uint id, bool fail = false)
    {
        var buffer = new FrameBuffer();
        LookupCodec.WriteRequest(buffer, id, fail ? "fail" : "emb", [1, 2, 3, id]);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Frame(Opcode opcode, uint id, byte[] payload)
    {
        var buffer = new FrameBuffer();
        buffer.BeginFrame(opcode, FrameFlags.None, id);
        buffer.Write(payload);
        buffer.EndFrame();
        return buffer.WrittenSpan.ToArray();
    }

    private static List<(FrameHeader Header, byte[] Payload)> Frames(byte[] bytes)
    {
        var frames = new List<(FrameHeader, byte[])>();
        var at = 0;
        while (at < bytes.Length)
        {
            Assert.Equal(ScanResult.Done, FrameScanner.TryScan(bytes.AsSpan(at), int.MaxValue, out var header, out _));
            frames.Add((header, bytes.AsSpan(at + FrameHeader.Size, header.PayloadLength).ToArray()));
            at += header.FrameLength;
        }

        return frames;
    }

    /// <summary>Ping echoes; lookup answers its key count (or throws for dict "fail"); predict is
    /// async and waits for <see cref="Release"/>; anything else is an unknown opcode.</summary>
    private sealed class EchoHandler : IAsyncFrameHandler
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>An async frame whose first payload byte is this is answered at once (TryHandleNow).</summary>
        public const byte Now = 0xAA;

        public bool TryHandleNow(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output)
        {
            if (payload.IsEmpty || payload[0] != Now)
            {
                return false;
            }

            output.BeginFrame(header.Opcode, FrameFlags.Response, header.RequestId);
            output.Write(payload);
            output.EndFrame();
            return true;
        }

        public bool IsAsync(Opcode opcode) => opcode == Opcode.Predict;

        public void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output)
        {
            switch (header.Opcode)
            {
                case Opcode.Ping:
                    output.BeginFrame(Opcode.Ping, FrameFlags.Response, header.RequestId);
                    output.Write(payload);
                    output.EndFrame();
                    break;
                case Opcode.Lookup:
                    var keys = new ulong[16];
                    var count = LookupCodec.ReadRequest(payload, out var dict, keys);
                    output.BeginFrame(Opcode.Lookup, FrameFlags.Response, header.RequestId);
                    if (dict.SequenceEqual("fail"u8))
                    {
                        throw new InvalidOperationException("handler failed");
                    }

                    output.Write([(byte)count]);
                    output.EndFrame();
                    break;
                default:
                    output.WriteError(header.Opcode, header.RequestId, ErrorCode.UnknownOpcode, "unknown");
                    break;
            }
        }

        public async Task HandleAsync(FrameHeader header, ReadOnlyMemory<byte> payload, FrameBuffer output)
        {
            await Release.Task;
            output.BeginFrame(header.Opcode, FrameFlags.Response, header.RequestId);
            output.Write(payload.Span);
            output.EndFrame();
        }
    }

    private sealed class Sink : IReplySink
    {
        public ReplyWindow Window { get; init; } = ReplyWindow.Unbounded();

        public string Peer => "test";

        public List<byte[]> Sent { get; } = [];

        public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
        {
            lock (Sent)
            {
                Sent.Add(bytes.ToArray());
            }

            return ValueTask.FromResult(true);
        }
    }
}
