using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Brpc;
using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Tests.Brpc;

/// <summary>
/// baidu_std's session without sockets: pipelined requests answered in order with their
/// correlation ids, however the bytes arrive; requests it cannot serve refused by name with the
/// connection kept; garbage and lying sizes refused from the header alone, and the session closed.
/// </summary>
public sealed class BaiduStdSessionTests
{
    [Fact]
    public void PipelinedSeeksAreAnsweredInOrderWithTheirCorrelationIds()
    {
        var replies = Replies(Drive(Stream(), [Stream().Length]).Output);
        Assert.Equal([11L, 12L, 13L], replies.Select(r => r.Correlation));
        Assert.All(replies, r => Assert.Equal(0, r.Error));
        Assert.Equal("2:found ?:missing 4:found 2:found", replies[0].Values); // ?: status (uint32)-1
        Assert.Equal("v7", replies[0].Version);
        Assert.Equal(string.Empty, replies[1].Values);
        Assert.Null(replies[1].Version); // not asked
    }

    /// <summary>The example of docs/protocol.md, byte for byte (the same bytes Google's protobuf
    /// runtime produces for these messages).</summary>
    [Fact]
    public void ASeekRequestIsFramedAsTheDocumentedExample()
    {
        var buffer = new FrameBuffer();
        SeekRequest.Write(buffer, 7, [1, 300], versionRequired: true);
        Assert.Equal(
            "5052504300000028000000210a1d0a157265632e6d637562652e44696374536572766963651204" + "7365656b2007080108ac021001",
            Convert.ToHexStringLower(buffer.WrittenSpan));
    }

    [Fact]
    public void SplitAtEveryByteAndOneBytePerReceiveGiveTheSameReplies()
    {
        var stream = Stream();
        var whole = Drive(stream, [stream.Length]).Output;
        for (var at = 1; at < stream.Length; at++)
        {
            Assert.True(whole.SequenceEqual(Drive(stream, [at, stream.Length - at]).Output), $"split at byte {at}");
        }

        Assert.Equal(whole, Drive(stream, [.. Enumerable.Repeat(1, stream.Length)]).Output);
    }

    [Theory]
    [InlineData("x.Other", "seek", 0, 0, 1001, "service 'x.Other' is not served here (rec.mcube.DictService is)")]
    [InlineData("rec.mcube.DictService", "parallel_seek", 0, 0, 1002, "method 'parallel_seek' of rec.mcube.DictService is not served (seek is)")]
    [InlineData("rec.mcube.DictService", "seek", 1, 0, 1003, "compress_type 1 is not supported")]
    [InlineData("rec.mcube.DictService", "seek", 0, 4, 1003, "attachment_size 4")]
    public void ARequestThatCannotBeServedIsRefusedByNameAndTheConnectionGoesOn(string service, string method, int compress, int attachment, int code, string text)
    {
        var bytes = Packet(Meta(service, method, 21, compress, attachment), Keys(2)).Concat(Seek(22, [2])).ToArray();
        var result = Drive(bytes, [bytes.Length]);
        Assert.False(result.Closing);
        var replies = Replies(result.Output);
        Assert.Equal((21L, code), (replies[0].Correlation, replies[0].Error));
        Assert.Contains(text, replies[0].Text, StringComparison.Ordinal);
        Assert.Equal((22L, 0, "2:found"), (replies[1].Correlation, replies[1].Error, replies[1].Values));
    }

    [Fact]
    public void AMalformedDictRequestIsRefusedWithItsOffsetAndTheConnectionGoesOn()
    {
        var bytes = Packet(Meta("rec.mcube.DictService", "seek", 31), [0x08, 0x80]).Concat(Seek(32, [4])).ToArray();
        var result = Drive(bytes, [bytes.Length]);
        var replies = Replies(result.Output);
        Assert.Equal((31L, BrpcError.Request), (replies[0].Correlation, replies[0].Error));
        Assert.Contains("DictRequest: offset 1: varint runs past the end", replies[0].Text, StringComparison.Ordinal);
        Assert.Equal(32L, replies[1].Correlation);
    }

    [Fact]
    public void AServiceThatThrowsAnswersInternalAndTheConnectionGoesOn()
    {
        var bytes = Seek(41, [666]).Concat(Seek(42, [2])).ToArray();
        var replies = Replies(Drive(bytes, [bytes.Length]).Output);
        Assert.Equal((41L, BrpcError.Internal), (replies[0].Correlation, replies[0].Error));
        Assert.Equal((42L, 0), (replies[1].Correlation, replies[1].Error));
    }

    [Theory]
    [InlineData("5052504300000005000000060000000000", "meta size 6 is larger than the body (5 bytes)")]
    [InlineData("4342010100000000010000000000ffff", "magic 43420101 is not PRPC")]
    [InlineData("50525043000000010000000180", "RpcMeta: offset 0: varint runs past the end")]
    public void GarbageGetsAnErrorForCorrelationZeroAndTheSessionCloses(string hex, string reason)
    {
        var bytes = Convert.FromHexString(hex).Concat(Seek(1, [2])).ToArray();
        var result = Drive(bytes, [bytes.Length]);
        Assert.True(result.Closing);
        var reply = Assert.Single(Replies(result.Output)); // nothing after the garbage is answered
        Assert.Equal((0L, BrpcError.Request), (reply.Correlation, reply.Error));
        Assert.Contains(reason, reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOversizedBodyIsRefusedFromItsHeaderAlone()
    {
        var header = new byte[BaiduStdHeader.Size];
        new BaiduStdHeader(1 << 30, 10).Write(header);
        var session = new BaiduStdSession(new FakeService(), 1 << 20, new Sink());
        Assert.Equal(0, session.Receive(header));
        Assert.True(session.Closing);
        Assert.Equal(0, session.BytesNeeded); // nothing is made room for
        Assert.Contains("body size 1073741824 is over the limit of 1048576 bytes", Replies(session.Output.ToArray())[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void FirstBytesChooseTheProtocolAndAPrefixWaits()
    {
        var factory = new FirstBytesSessionFactory(new FrameSessionFactory(new NoFrames(), 1 << 20), (BaiduStdHeader.Magic.ToArray(), new BaiduStdSessionFactory(new FakeService(), 1 << 20)));
        var seek = Seek(5, [2]);
        var session = factory.Create(new Sink());
        Assert.Equal(0, session.Receive(seek.AsSpan(0, 1))); // "P": either protocol still
        Assert.Equal(0, session.Receive(seek.AsSpan(0, 3)));
        Assert.Equal(seek.Length, session.Receive(seek));
        Assert.Equal(5L, Replies(session.Output.ToArray())[0].Correlation);

        // Anything else is the fallback's: the binary protocol answers its own garbage.
        var native = factory.Create(new Sink());
        native.Receive("PING\r\n"u8);
        Assert.True(native.Closing);
        Assert.True(FrameScanner.TryScan(native.Output.Span, 1 << 20, out var header, out _) == ScanResult.Done && header.IsError);
    }

    private static byte[] Stream() => [.. Seek(11, [2, 3, 4, 2], versionRequired: true), .. Seek(12, []), .. Seek(13, [4])];

    private static byte[] Seek(long correlation, ulong[] keys, bool versionRequired = false)
    {
        var buffer = new FrameBuffer();
        SeekRequest.Write(buffer, correlation, keys, versionRequired);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Keys(params ulong[] keys)
    {
        var bytes = new byte[DictRequest.Size(keys, false)];
        DictRequest.Write(bytes, keys, false);
        return bytes;
    }

    /// <summary>An RpcMeta written field by field (tag, value), as the protocol description lays it out.</summary>
    private static byte[] Meta(string service, string method, long correlation, int compress = 0, int attachment = 0)
    {
        var request = new List<byte> { 0x0A, (byte)service.Length };
        request.AddRange(Encoding.ASCII.GetBytes(service));
        request.AddRange([0x12, (byte)method.Length]);
        request.AddRange(Encoding.ASCII.GetBytes(method));
        var meta = new List<byte> { 0x0A, (byte)request.Count };
        meta.AddRange(request);
        meta.AddRange([0x18, (byte)compress, 0x20, (byte)correlation, 0x28, (byte)attachment]);
        return [.. meta];
    }

    private static byte[] Packet(byte[] meta, byte[] payload)
    {
        var bytes = new byte[BaiduStdHeader.Size + meta.Length + payload.Length];
        "PRPC"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), (uint)(meta.Length + payload.Length));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)meta.Length);
        meta.CopyTo(bytes, BaiduStdHeader.Size);
        payload.CopyTo(bytes, BaiduStdHeader.Size + meta.Length);
        return bytes;
    }

    private sealed record Reply(long Correlation, int Error, string Text, string Values, string? Version);

    private static List<Reply> Replies(byte[] output)
    {
        var replies = new List<Reply>();
        for (var at = 0; at < output.Length;)
        {
            Assert.True(BaiduStdHeader.TryRead(output.AsSpan(at), int.MaxValue, out var header, out _));
            var body = output.AsSpan(at + BaiduStdHeader.Size, header.BodySize);
            var meta = RpcMeta.Read(body[..header.MetaSize]);
            Assert.True(meta.HasResponse);
            var values = new List<string>();
            string? version = null;
            if (meta.ErrorCode == 0)
            {
                var payload = body[header.MetaSize..];
                var v = DictResponse.Read(payload, values, static (list, _, status, value) =>
                    list.Add(status == 0 ? $"{BinaryPrimitives.ReadUInt64LittleEndian(value)}:found" : $"{(status == DictResponse.NotFound ? "?" : "!")}:missing"));
                version = payload.IndexOf((byte)0x12) >= 0 && !v.IsEmpty ? Encoding.UTF8.GetString(v) : null;
            }

            replies.Add(new Reply(meta.CorrelationId, meta.ErrorCode, Encoding.UTF8.GetString(meta.ErrorText), string.Join(' ', values), version));
            at += header.PacketSize;
        }

        return replies;
    }

    private static (byte[] Output, bool Closing) Drive(byte[] stream, int[] chunks) =>
        SessionDriver.Drive(new BaiduStdSession(new FakeService(), 1 << 20, new Sink()), stream, chunks);

    /// <summary>Even keys are found (their value: the key, 8 bytes little-endian); key 666 throws.</summary>
    private sealed class FakeService : IDictService
    {
        public void Seek(ReadOnlySpan<byte> request, BaiduStdReply reply)
        {
            var keys = new ulong[request.Length];
            var count = DictRequest.Read(request, keys, out var versionRequired);
            if (keys.Take(count).Contains(666UL))
            {
                throw new InvalidOperationException("boom");
            }

            var size = versionRequired ? 4 : 0;
            foreach (var key in keys.Take(count))
            {
                size += key % 2 == 0 ? DictResponse.FoundSize(8) : DictResponse.MissingValue.Length;
            }

            var payload = reply.BeginPayload(size);
            var n = 0;
            Span<byte> value = stackalloc byte[8];
            foreach (var key in keys.Take(count))
            {
                BinaryPrimitives.WriteUInt64LittleEndian(value, key);
                if (key % 2 == 0)
                {
                    n += DictResponse.WriteFound(payload[n..], value);
                }
                else
                {
                    DictResponse.MissingValue.CopyTo(payload[n..]);
                    n += DictResponse.MissingValue.Length;
                }
            }

            if (versionRequired)
            {
                "\u0012\u0002v7"u8.CopyTo(payload[n..]);
            }

            reply.Commit();
        }
    }

    private sealed class NoFrames : IFrameHandler
    {
        public void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output) => throw new InvalidOperationException("no frame expected");
    }

    private sealed class Sink : IReplySink
    {
        public ReplyWindow Window { get; } = ReplyWindow.Unbounded();

        public string Peer => "test";

        public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes) => ValueTask.FromResult(true);
    }
}
