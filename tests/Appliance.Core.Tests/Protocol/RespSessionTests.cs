using System.Text;
using Appliance.Core.Buffers;
using Appliance.Core.Client;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Protocol;

/// <summary>
/// The Redis front without sockets: a table of requests and the exact bytes a Redis client must
/// get back; malformed requests are answered and the connection closes; the same stream split
/// anywhere gives the same replies; a reader that answers later keeps replies in order.
/// </summary>
public sealed class RespSessionTests
{
    private static readonly byte[] Row1 = [1, 0, 0, 0, 2, 0, 0, 0];

    [Theory]
    [InlineData("PING\r\n", "+PONG\r\n")]
    [InlineData("*1\r\n$4\r\nping\r\n", "+PONG\r\n")]
    [InlineData("*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", "$2\r\nhi\r\n")]
    [InlineData("*2\r\n$4\r\nECHO\r\n$3\r\na b\r\n", "$3\r\na b\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\n1\r\n", "$8\r\n\x01\0\0\0\x02\0\0\0\r\n")]
    [InlineData("GET 00001\r\n", "$8\r\n\x01\0\0\0\x02\0\0\0\r\n")] // leading zeros: the same number
    [InlineData("GET 2\r\n", "$-1\r\n")]
    [InlineData("MGET 2 1\r\n", "*2\r\n$-1\r\n$8\r\n\x01\0\0\0\x02\0\0\0\r\n")]
    [InlineData("HMGET emb 1 2\r\n", "*2\r\n$8\r\n\x01\0\0\0\x02\0\0\0\r\n$-1\r\n")]
    [InlineData("HGET emb 2\r\n", "$-1\r\n")]
    [InlineData("EXISTS 0000000000000000000001 18446744073709551615\r\n", ":1\r\n")] // leading zeros past 19 digits; the largest key
    [InlineData("EXISTS 1 2 1\r\n", ":2\r\n")]
    [InlineData("HEXISTS emb 1\r\n", ":1\r\n")]
    [InlineData("DBSIZE\r\n", ":1\r\n")]
    [InlineData("SELECT 0\r\n", "+OK\r\n")]
    [InlineData("CLIENT SETNAME x\r\nCLIENT GETNAME\r\n", "+OK\r\n$1\r\nx\r\n")]
    [InlineData("COMMAND DOCS\r\n", "*0\r\n")]
    [InlineData("CONFIG GET save\r\n", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n")]
    [InlineData("\r\n\r\nPING\r\n", "+PONG\r\n")] // blank inline lines are skipped
    [InlineData("HELLO 3\r\nGET 2\r\n", "_\r\n")] // RESP3 null (after the HELLO map)
    public void AnswersLikeRedis(string request, string reply) =>
        Assert.EndsWith(reply, Latin1(Drive(Latin1(request), [request.Length]).Output));

    [Theory]
    [InlineData("GET abc\r\n", "-ERR key 'abc' (argument 2) is not a decimal uint64")]
    [InlineData("GET -1\r\n", "-ERR key '-1' (argument 2) is not a decimal uint64")]
    [InlineData("GET 18446744073709551616\r\n", "-ERR key '18446744073709551616' (argument 2) is not a decimal uint64")]
    [InlineData("GET 99999999999999999999\r\n", "-ERR key '99999999999999999999' (argument 2) is not a decimal uint64")] // 20 digits: the checked path
    [InlineData("GET 1x\r\n", "-ERR key '1x' (argument 2) is not a decimal uint64")]
    [InlineData("GET 12345678901234567:\r\n", "-ERR key '12345678901234567:' (argument 2) is not a decimal uint64")] // ':' is '9' + 1
    [InlineData("HGET other 1\r\n", "-ERR no dict 'other' here (this port serves 'emb')")]
    [InlineData("SET 1 2\r\n", "-READONLY You can't write against a read only replica.")]
    [InlineData("FLUSHALL\r\n", "-READONLY")]
    [InlineData("GET\r\n", "-ERR wrong number of arguments for 'get' command")]
    [InlineData("KEYS *\r\n", "-ERR unknown command 'KEYS'")]
    [InlineData("SELECT 1\r\n", "-ERR DB index is out of range")]
    [InlineData("AUTH secret\r\n", "-ERR AUTH <password> called without any password configured")]
    [InlineData("HELLO 4\r\n", "-NOPROTO unsupported protocol version")]
    public void ABadCommandGetsAnErrorAndTheConnectionGoesOn(string request, string error)
    {
        var result = Drive(Latin1(request + "PING\r\n"), [request.Length + 6]);
        Assert.False(result.Closing);
        var text = Latin1(result.Output);
        Assert.StartsWith(error, text);
        Assert.EndsWith("\r\n+PONG\r\n", text);
    }

    [Theory]
    [InlineData("*2\r\n$3\r\nGET\r\n:1\r\n", "-ERR Protocol error: expected '$' at offset 13")]
    [InlineData("*x\r\n", "-ERR Protocol error: argument count at offset 1 is not a number")]
    [InlineData("*2\r\n$3\r\nGETX\r\n", "-ERR Protocol error: bulk string at offset 8 is not followed by CRLF")]
    [InlineData("*1\r\n$99999999\r\n", "-ERR Protocol error: bulk length 99999999 at offset 5 is outside 0..1048576")]
    [InlineData("*1\r\n$99999999999999999999\r\n", "-ERR Protocol error: bulk length 99999999999999999999 at offset 5 is outside 0..1048576")] // 20 digits: no overflow
    [InlineData("*1\r\n$1/\r\n", "-ERR Protocol error: bulk length at offset 5 is not a number")]
    [InlineData("*9999999\r\n", "-ERR Protocol error: argument count 9999999 at offset 1 is outside")]
    [InlineData("*1\r\n$-5\r\n", "-ERR Protocol error: bulk length at offset 5 is not a number")]
    public void AMalformedRequestIsAnsweredAndClosesTheConnection(string request, string error)
    {
        var result = Drive(Latin1(request + "PING\r\n"), [request.Length + 6]);
        Assert.True(result.Closing);
        Assert.StartsWith(error, Latin1(result.Output));
        Assert.DoesNotContain("PONG", Latin1(result.Output));
    }

    [Fact]
    public void AnInlineLineWithoutEndIsRefusedPastItsLimit()
    {
        var result = Drive(new byte[RespReader.MaxInline + 10], [RespReader.MaxInline + 10], initialBuffer: 1 << 20);
        Assert.True(result.Closing);
        Assert.StartsWith("-ERR Protocol error: an inline command is longer than", Latin1(result.Output));
    }

    [Fact]
    public void SplitAtEveryByteGivesTheSameReplies()
    {
        var stream = Latin1("*3\r\n$4\r\nMGET\r\n$1\r\n1\r\n$1\r\n2\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*3\r\n$5\r\nHMGET\r\n$3\r\nemb\r\n$1\r\n1\r\nDBSIZE\r\n");
        var whole = Drive(stream, [stream.Length]).Output;
        for (var at = 1; at < stream.Length; at++)
        {
            Assert.True(whole.SequenceEqual(Drive(stream, [at, stream.Length - at]).Output), $"split at byte {at}");
        }

        Assert.Equal(whole, Drive(stream, [.. Enumerable.Repeat(1, stream.Length)]).Output);
    }

    [Fact]
    public void ALargeMgetArrivingInPiecesIsReadOnce()
    {
        var keys = Enumerable.Range(0, 50_000).Select(i => i % 2 == 0 ? "1" : "2").ToList();
        var request = new StringBuilder($"*{keys.Count + 1}\r\n$4\r\nMGET\r\n");
        keys.ForEach(k => request.Append("$1\r\n").Append(k).Append("\r\n"));
        var bytes = Latin1(request.ToString());
        var result = Drive(bytes, [.. Enumerable.Repeat(997, bytes.Length / 997), bytes.Length % 997], initialBuffer: 1024);
        Assert.StartsWith("*50000\r\n$8\r\n", Latin1(result.Output));
        Assert.False(result.Closing);
    }

    [Fact]
    public void WithATokenOnlyAuthAndHelloAreAnsweredBeforeAuthentication()
    {
        var token = TokenFile("resp-secret-0123456789");
        var result = Latin1(Drive(Latin1("GET 1\r\nAUTH wrong-secret-xxxxxxxx\r\nAUTH someone resp-secret-0123456789\r\nHELLO 3 AUTH default resp-secret-0123456789\r\nGET 2\r\n"), [200], token: token).Output);
        Assert.StartsWith("-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n-WRONGPASS", result);
        Assert.Contains("%7\r\n$6\r\nserver\r\n$14\r\ncube-appliance\r\n", result);
        Assert.EndsWith("_\r\n", result);

        var plain = Latin1(Drive(Latin1("AUTH resp-secret-0123456789\r\nGET 1\r\n"), [100], token: token).Output);
        Assert.Equal("+OK\r\n$8\r\n\x01\0\0\0\x02\0\0\0\r\n", plain);
    }

    [Fact]
    public void QuitAnswersOkAndCloses()
    {
        var result = Drive(Latin1("QUIT\r\nPING\r\n"), [12]);
        Assert.True(result.Closing);
        Assert.Equal("+OK\r\n", Latin1(result.Output));
    }

    [Fact]
    public async Task AKeyspaceThatAnswersLaterKeepsRepliesInOrder()
    {
        var reader = new FakeDictReader { Later = true };
        var sink = new Sink();
        var session = new RespSession(reader, 1 << 20, null, sink, new RespStats());
        var consumed = session.Receive(Latin1("PING\r\nGET 1\r\nPING 2\r\nMGET 1 3 2\r\nECHO x\r\n"));
        Assert.Equal(41, consumed);
        Assert.Equal(0, session.Output.Length); // the first PONG went into the chain, ahead of the lookup
        reader.Release();
        await session.DrainAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("+PONG\r\n$8\r\n\x01\0\0\0\x02\0\0\0\r\n$1\r\n2\r\n*3\r\n$8\r\n\x01\0\0\0\x02\0\0\0\r\n-ERR shard 1 unavailable: timed out\r\n$-1\r\n$1\r\nx\r\n", Latin1(sink.Sent.ToArray()));
    }

    /// <summary>A client pipelining lookups to the proxy without reading made it hold replies
    /// without end (3.4 GB in 25 s): the session stops consuming once its window is full.</summary>
    [Fact]
    public async Task PipelinedLookupsStopAtTheWindowUntilARepliesLeaves()
    {
        var reader = new FakeDictReader { Later = true };
        var sink = new Sink { Window = new ReplyWindow(maxReplies: 2, maxBytes: 1 << 20) };
        var session = new RespSession(reader, 1 << 20, null, sink, new RespStats());
        var input = Latin1("GET 1\r\nGET 1\r\nGET 1\r\nGET 1\r\n");
        var consumed = session.Receive(input);
        Assert.Equal(14, consumed); // two lookups taken, the third waits
        Assert.True(session.Paused);
        var resumable = session.WhenResumable();
        Assert.False(resumable.IsCompleted);

        reader.Release();
        await resumable.WaitAsync(TimeSpan.FromSeconds(10));
        while (consumed < input.Length)
        {
            consumed += session.Receive(input.AsSpan(consumed));
            await session.WhenResumable().WaitAsync(TimeSpan.FromSeconds(10));
        }

        await session.DrainAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, sink.Window.Replies);
        Assert.Equal(0, sink.Window.Bytes);
        Assert.Equal(string.Concat(Enumerable.Repeat("$8\r\n\x01\0\0\0\x02\0\0\0\r\n", 4)), Latin1(sink.Sent.ToArray()));
    }

    /// <summary>HELLO 3 queued behind a pending lookup switched only its own reply to RESP3: the
    /// replies written once the chain drained were RESP2 again.</summary>
    [Fact]
    public async Task Hello3BehindAPendingLookupSwitchesEveryLaterReply()
    {
        var reader = new FakeDictReader { Later = true };
        var sink = new Sink();
        var session = new RespSession(reader, 1 << 20, null, sink, new RespStats());
        session.Receive(Latin1("GET 2\r\nHELLO 3\r\n"));
        reader.Release();
        await session.DrainAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("$-1\r\n%7\r\n", Latin1(sink.Sent.ToArray()));

        session.Receive(Latin1("CLIENT GETNAME\r\n")); // the chain has drained: written to Output
        Assert.Equal("_\r\n", Latin1(session.Output.ToArray()));
    }

    [Theory]
    [InlineData("CLIENT REPLY OFF\r\n", "-ERR CLIENT REPLY OFF and SKIP are not supported")]
    [InlineData("CLIENT REPLY SKIP\r\n", "-ERR CLIENT REPLY OFF and SKIP are not supported")]
    [InlineData("CLIENT REPLY ON\r\n", "+OK\r\n")]
    [InlineData("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\na\r\nb\r\n", "-ERR Client names cannot contain spaces, newlines or special characters.")]
    [InlineData("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\na b\r\n", "-ERR Client names cannot contain spaces")]
    [InlineData("*4\r\n$5\r\nHELLO\r\n$1\r\n2\r\n$7\r\nSETNAME\r\n$3\r\na\u001bb\r\n", "-ERR Client names cannot contain spaces")]
    [InlineData("CLIENT SETNAME worker-1\r\n", "+OK\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$-0\r\n\r\n", "-ERR Protocol error: bulk length at offset")]
    [InlineData("*-0\r\n", "-ERR Protocol error: argument count at offset")]
    public void ClientCommandsAndLengthsAreTakenAsRedisTakesThem(string request, string reply)
    {
        Assert.StartsWith(reply, Latin1(Drive(Latin1(request), [request.Length]).Output));
    }

    /// <summary>20,000 wrong AUTHs took 0.03 s: after a few on one connection each one waits,
    /// doubling, and nothing after it on that connection is read meanwhile; every one is counted.</summary>
    [Fact]
    public async Task WrongSecretsAreSlowedAfterAFewAndCounted()
    {
        var token = TokenFile("resp-secret-0123456789");
        var sink = new Sink();
        var stats = new RespStats();
        var session = new RespSession(new FakeDictReader(), 1 << 20, token, sink, stats);
        var wrong = Latin1("AUTH guess-guess-guess\r\n");
        var stream = Enumerable.Repeat(wrong, 6).SelectMany(b => b).ToArray();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var consumed = session.Receive(stream);
        Assert.Equal(4 * wrong.Length, consumed); // three answered at once, the fourth waits
        Assert.True(session.Paused);
        Assert.Equal(4, stats.AuthFailures);
        // The three answered at once went into the chain ahead of the fourth (sent at once).
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(Latin1(sink.Sent.ToArray()) + Latin1(session.Output.ToArray()), "WRONGPASS"));

        await session.WhenResumable().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(80));
        consumed += session.Receive(stream.AsSpan(consumed));
        Assert.Equal(5, stats.AuthFailures); // the fifth is read only after the fourth's wait
        Assert.True(session.Paused);
    }

    [Fact]
    public void FloatRowsAreSentAsFloat32WhateverTheCodec()
    {
        var half = new byte[4];
        ValueCodecs.Encode(ValueCodec.F16, [0, 0, 0x80, 0x3F, 0, 0, 0x20, 0x40], half); // 1.0, 2.5
        var reader = new FakeDictReader { Codec = ValueCodec.F16, Row = half };
        var session = new RespSession(reader, 1 << 20, null, new Sink(), new RespStats());
        session.Receive(Latin1("GET 1\r\n"));
        Assert.Equal("$8\r\n\0\0\x80\x3F\0\0\x20\x40\r\n", Latin1(session.Output.ToArray()));
    }

    private static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    private static BearerToken TokenFile(string secret)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, secret);
        var token = BearerToken.FromFile(path);
        File.Delete(path);
        return token;
    }

    private static (byte[] Output, bool Closing) Drive(byte[] stream, int[] chunks, int initialBuffer = 64, BearerToken? token = null)
    {
        var session = new RespSession(new FakeDictReader(), 1 << 20, token, new Sink(), new RespStats());
        var input = new ReceiveBuffer(initialBuffer);
        var output = new List<byte>();
        var offset = 0;
        foreach (var chunk in chunks)
        {
            var left = chunk;
            while (left > 0 && offset < stream.Length && !session.Closing)
            {
                input.Compact(Math.Max(session.BytesNeeded, input.Data.Length + 1));
                var n = Math.Min(Math.Min(left, input.FreeSpan.Length), stream.Length - offset);
                stream.AsSpan(offset, n).CopyTo(input.FreeSpan);
                input.Commit(n);
                (offset, left) = (offset + n, left - n);
                input.Consume(session.Receive(input.Data));
                output.AddRange(session.Output.ToArray());
                session.ClearOutput();
            }
        }

        return ([.. output], session.Closing);
    }

    /// <summary>Key 1 holds <see cref="Row"/>, key 3's shard fails, every other key is missing.</summary>
    private sealed class FakeDictReader : IDictReader
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Later { get; init; }

        public ValueCodec Codec { get; init; } = ValueCodec.F32;

        public byte[] Row { get; init; } = Row1;

        public bool AnswersAtOnce => !Later;

        public string DefaultDict => "emb";

        public bool Serves(string dict) => dict == "emb";

        public void Release() => _release.SetResult();

        public ValueTask<KeyRows> LookupAsync(string dict, ulong[] keys, int count)
        {
            var rows = new Rows(keys[..count], Codec, Row);
            return Later ? new ValueTask<KeyRows>(_release.Task.ContinueWith(_ => (KeyRows)rows, TaskScheduler.Default)) : ValueTask.FromResult<KeyRows>(rows);
        }

        public DictReaderInfo Info() => new("server", 1, "100", "test");

        private sealed class Rows(ulong[] keys, ValueCodec codec, byte[] row) : KeyRows
        {
            public override int Count => keys.Length;

            public override ValueCodec Codec => codec;

            public override KeyStatus Status(int index) => keys[index] switch { 1 => KeyStatus.Found, 3 => KeyStatus.Failed, _ => KeyStatus.Missing };

            public override ReadOnlySpan<byte> Row(int index) => row;

            public override string Error(int index) => "shard 1 unavailable: timed out";
        }
    }

    private sealed class Sink : IReplySink
    {
        public ReplyWindow Window { get; init; } = ReplyWindow.Unbounded();

        public string Peer => "test";

        public List<byte> Sent { get; } = [];

        public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
        {
            lock (Sent)
            {
                Sent.AddRange(bytes.ToArray());
            }

            return ValueTask.FromResult(true);
        }
    }
}
