using System.Buffers.Binary;
using Appliance.Core.Brpc;
using Appliance.Core.Formats;
using Appliance.Core.Net;
using System.Text;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Serving;
using Appliance.Core.Storage;

namespace Appliance.Fuzz.Tests;

/// <summary>
/// The data plane's session dispatch, without sockets: the bytes go through a
/// <see cref="FrameSession"/> in front of the real <see cref="ShardService"/> over a small live
/// table, once whole, once a byte at a time and once 7 bytes at a time. Invariants: nothing
/// throws; every reply is one well-formed response frame; the replies do not depend on how the
/// bytes arrived (except the request id of a final BadFrame, which a client that sent garbage
/// cannot rely on, and the counters in a status reply); a session that closes has answered BadFrame last.
/// </summary>
public static class SessionTarget
{
    private static readonly Lazy<ShardService> Service = new(MakeService);

    /// <summary>The Redis front over the same shard: whole vs a byte at a time vs 7 bytes at a
    /// time give the same replies (INFO's counters aside), and nothing throws.</summary>
    public static Fuzzer Resp() => new("resp", [.. RespCorpus.Select(Encoding.ASCII.GetBytes)], input =>
    {
        var whole = RespReplies(input, input.Length);
        foreach (var chunk in input.Length <= 1 << 16 ? new[] { 1, 7 } : [4096])
        {
            var split = RespReplies(input, chunk);
            if (!whole.SequenceEqual(split))
            {
                throw new InvalidOperationException($"{chunk}-byte receives: the replies differ ({split.Length} bytes, whole {whole.Length})");
            }
        }
    });

    /// <summary>baidu_std (DictService.seek) over the same shard: whole vs a byte at a time vs 7
    /// bytes at a time give the same replies; every reply is one baidu_std packet with a response
    /// meta; a session that closes has answered an error with correlation id 0 last; nothing throws.
    /// The corpus has lying sizes (a meta larger than the body, a body over the limit).</summary>
    public static Fuzzer BaiduStd() => new("baidustd", BaiduStdCorpus(), input =>
    {
        var whole = BaiduStdReplies(input, input.Length);
        foreach (var chunk in input.Length <= 1 << 16 ? new[] { 1, 7 } : [4096])
        {
            if (!whole.SequenceEqual(BaiduStdReplies(input, chunk)))
            {
                throw new InvalidOperationException($"{chunk}-byte receives: the replies differ");
            }
        }
    });

    private static byte[][] BaiduStdCorpus()
    {
        var seek = new FrameBuffer();
        SeekRequest.Write(seek, 1, [1, 2, 99, 1], versionRequired: true, logId: 5);
        SeekRequest.Write(seek, 2, [], versionRequired: false);
        var lying = seek.WrittenSpan.ToArray();
        lying[11] = 0xFF; // meta size larger than the body
        return [seek.WrittenSpan.ToArray(), lying, [.. "PRPC"u8, 0x7F, 0, 0, 0, 0, 0, 0, 0]];
    }

    private static byte[] BaiduStdReplies(byte[] input, int chunk)
    {
        var session = new BaiduStdSession(Service.Value, maxBody: 1 << 16, NoLateReplies.Instance);
        var bytes = Feed(session, input, chunk);
        long lastCorrelation = -1;
        var lastError = 0;
        for (var at = 0; at < bytes.Length;)
        {
            if (!BaiduStdHeader.TryRead(bytes.AsSpan(at), int.MaxValue, out var header, out var error) || at + header.PacketSize > bytes.Length)
            {
                throw new InvalidOperationException($"reply at offset {at} is not a whole baidu_std packet: {error}");
            }

            var meta = RpcMeta.Read(bytes.AsSpan(at + BaiduStdHeader.Size, header.MetaSize));
            if (!meta.HasResponse || meta.HasRequest)
            {
                throw new InvalidOperationException($"reply at offset {at} has no response meta");
            }

            if (meta.ErrorCode == 0)
            {
                DictResponse.Read(bytes.AsSpan(at + BaiduStdHeader.Size + header.MetaSize, header.BodySize - header.MetaSize), 0, static (_, _, _, _) => { });
            }

            (lastCorrelation, lastError) = (meta.CorrelationId, meta.ErrorCode);
            at += header.PacketSize;
        }

        if (session.Closing && (lastError == 0 || lastCorrelation != 0))
        {
            throw new InvalidOperationException("the session closed without an error reply for correlation id 0");
        }

        return bytes;
    }

    private static readonly string[] RespCorpus =
    [
        "*2\r\n$3\r\nGET\r\n$1\r\n7\r\n",
        "*4\r\n$4\r\nMGET\r\n$1\r\n1\r\n$2\r\n99\r\n$3\r\n100\r\n",
        "*3\r\n$4\r\nHGET\r\n$3\r\nemb\r\n$1\r\n5\r\nPING\r\nHELLO 3\r\nGET 5\r\nEXISTS 1 2 3\r\n",
        "AUTH x\r\nSET 1 2\r\nCLIENT SETNAME a\r\nCOMMAND DOCS\r\nCONFIG GET save\r\nDBSIZE\r\nSELECT 0\r\nECHO hi\r\nQUIT\r\n",
    ];

    private static byte[] RespReplies(byte[] input, int chunk)
    {
        var session = new RespSession(new ShardDictReader("emb", 0, Service.Value.Store), maxRequest: 1 << 20, token: null, NoLateReplies.Instance, new RespStats());
        return Feed(session, input, chunk);
    }

    public static Fuzzer Sessions() => new("session", Targets.FrameCorpus(), input =>
    {
        var whole = Replies(input, input.Length);
        foreach (var chunk in input.Length <= 1 << 16 ? new[] { 1, 7 } : [4096])
        {
            var split = Replies(input, chunk);
            if (whole.Closed != split.Closed || whole.Frames.Count != split.Frames.Count)
            {
                throw new InvalidOperationException($"{chunk}-byte receives: {split.Frames.Count} replies (closed {split.Closed}), whole: {whole.Frames.Count} (closed {whole.Closed})");
            }

            for (var i = 0; i < whole.Frames.Count; i++)
            {
                var last = whole.Closed && i == whole.Frames.Count - 1;
                // A status reply counts requests served so far: only its header must agree.
                var compared = (Opcode)whole.Frames[i][3] == Opcode.Status ? 12 : int.MaxValue;
                if (!last && !whole.Frames[i].AsSpan(0, Math.Min(compared, whole.Frames[i].Length)).SequenceEqual(split.Frames[i].AsSpan(0, Math.Min(compared, split.Frames[i].Length))))
                {
                    throw new InvalidOperationException($"{chunk}-byte receives: reply {i} differs");
                }
            }
        }
    });

    private sealed record Outcome(List<byte[]> Frames, bool Closed);

    private static Outcome Replies(byte[] input, int chunk)
    {
        var session = new FrameSession(Service.Value, maxPayload: 1 << 20, NoLateReplies.Instance);
        var bytes = Feed(session, input, chunk);
        var frames = new List<byte[]>();
        for (var at = 0; at < bytes.Length;)
        {
            if (FrameScanner.TryScan(bytes.AsSpan(at), int.MaxValue, out var header, out var error) != ScanResult.Done || !header.IsResponse)
            {
                throw new InvalidOperationException($"reply at offset {at} is not a response frame: {error}");
            }

            frames.Add(bytes.AsSpan(at, header.FrameLength).ToArray());
            at += header.FrameLength;
        }

        if (session.Closing && (frames.Count == 0 || !IsBadFrame(frames[^1])))
        {
            throw new InvalidOperationException("the session closed without a BadFrame reply");
        }

        return new Outcome(frames, session.Closing);
    }

    /// <summary>Offers <paramref name="input"/> to a session <paramref name="chunk"/> bytes at a
    /// time, as a transport would (unconsumed bytes offered again with the next ones); the replies.</summary>
    private static byte[] Feed(ISession session, byte[] input, int chunk)
    {
        var output = new List<byte>();
        var pending = new byte[input.Length];
        int start = 0, end = 0;
        for (var at = 0; at < input.Length && !session.Closing; at += chunk)
        {
            var n = Math.Min(chunk, input.Length - at);
            input.AsSpan(at, n).CopyTo(pending.AsSpan(end));
            end += n;
            start += session.Receive(pending.AsSpan(start, end - start));
            output.AddRange(session.Output.Span);
            session.ClearOutput();
        }

        return [.. output];
    }

    private static bool IsBadFrame(byte[] frame)
    {
        FrameScanner.TryScan(frame, int.MaxValue, out var header, out _);
        return header.IsError && BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(FrameHeader.Size)) == (ushort)ErrorCode.BadFrame;
    }

    private static ShardService MakeService()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fuzz-session-{Environment.ProcessId}");
        Directory.CreateDirectory(Path.Combine(root, "in"));
        using (var writer = SequenceFileWriter.Create(Path.Combine(root, "in", "part-0"), seed: 1))
        {
            for (ulong key = 0; key < 100; key++)
            {
                writer.Write(key, BitConverter.GetBytes((float)key));
            }
        }

        TableBuilder.Build(new BuildOptions { InputPath = Path.Combine(root, "in"), OutputPath = Path.Combine(root, "out"), Dict = "emb", Shards = 1, Mode = VersionMode.Base, Version = "100" });
        var store = new ShardStore(inMemory: true);
        store.LoadBase(Path.Combine(root, "out", "100_100", "emb_part0"));
        Directory.Delete(root, recursive: true);
        return new ShardService("emb", 0, store);
    }

    private sealed class NoLateReplies : IReplySink
    {
        public static readonly NoLateReplies Instance = new();

        public ReplyWindow Window { get; } = ReplyWindow.Unbounded();

        public string Peer => "fuzz";

        public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes) => throw new InvalidOperationException("the shard service has no asynchronous opcode");
    }
}
