using Appliance.Core.Buffers;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Resp;

/// <summary>
/// A read-only Redis front on one connection (RESP2, RESP3 after <c>HELLO 3</c>), without the
/// socket: commands are found by <see cref="RespReader"/> and answered from an
/// <see cref="IDictReader"/>. A key is the decimal uint64 text; a value is the row as float32
/// little-endian bytes whatever the table's codec (raw tables: the stored bytes).
/// <list type="bullet">
/// <item>Replies go out in request order, as RESP requires. A local shard answers at once, into
/// <see cref="Output"/>; a lookup that completes later (the proxy) starts at once — pipelined
/// lookups overlap — and its reply, and every reply after it until the chain drains, is sent
/// through the <see cref="IReplySink"/> in order.</item>
/// <item>With a token configured, nothing but AUTH, HELLO … AUTH and QUIT is answered before the
/// client authenticates.</item>
/// <item>A malformed request gets an error reply and the connection closes (the byte stream can
/// no longer be trusted), as Redis does.</item>
/// </list>
/// </summary>
internal sealed partial class RespSession : ISession
{
    private readonly IDictReader _dicts;
    private readonly int _maxRequest;
    private readonly BearerToken? _token;
    private readonly IReplySink _replies;
    private readonly RespStats _stats;
    private readonly RespReader _reader = new();
    private readonly OutputBuffer _output = new(0);
    private readonly RespWriter _writer;
    private readonly long _id;
    private ulong[] _keys = new ulong[128];
    private bool _authenticated;
    private bool _resp3;
    private string? _name;
    private Task _tail = Task.CompletedTask; // the last reply sent through the sink
    private bool _chained;                  // replies go through the sink until _tail completes
    private Task _throttle = Task.CompletedTask; // a failed AUTH's delay: nothing is read meanwhile
    private int _authFailures;

    /// <summary>Wrong secrets answered at once on one connection; each one after them waits
    /// <see cref="FirstAuthDelay"/>, doubling up to <see cref="MaxAuthDelay"/>.</summary>
    public const int FreeAuthAttempts = 3;

    private static readonly TimeSpan FirstAuthDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxAuthDelay = TimeSpan.FromSeconds(2);

    /// <param name="id">The client id CLIENT ID and HELLO report (the factory numbers connections).</param>
    public RespSession(IDictReader dicts, int maxRequest, BearerToken? token, IReplySink replies, RespStats stats, long id = 0)
    {
        _id = id;
        _dicts = dicts;
        _maxRequest = maxRequest;
        _token = token;
        _replies = replies;
        _stats = stats;
        _writer = new RespWriter(_output);
        _authenticated = token is null;
    }

    public int BytesNeeded { get; private set; }

    public bool Closing { get; private set; }

    public bool Paused { get; private set; }

    public Task WhenResumable() => _throttle.IsCompleted ? _replies.Window.WaitForRoomAsync() : _throttle;

    public ReadOnlyMemory<byte> Output => _output.Written;

    public void ClearOutput()
    {
        _output.Clear();
        _output.Trim(1 << 20);
    }

    public void Idle() => _output.Trim(0);

    public void Refuse(string reason)
    {
        Reply(w => w.Error("ERR", reason));
        Closing = true;
    }

    public async Task DrainAsync(TimeSpan timeout) =>
        await Task.WhenAny(_tail, Task.Delay(timeout)).ConfigureAwait(false);

    public int Receive(ReadOnlySpan<byte> input)
    {
        BytesNeeded = 0;
        Paused = false;
        var consumed = 0;
        while (!Closing)
        {
            if (consumed < input.Length && (!_throttle.IsCompleted || (RepliesLater && !_replies.Window.HasRoom)))
            {
                Paused = true; // offered again once a pending reply has left
                return consumed;
            }

            var rest = input[consumed..];
            if (TryKeyCommand(rest) is var scanned and > 0)
            {
                consumed += scanned;
                continue;
            }

            switch (_reader.TryRead(rest, _maxRequest, out var used, out var needed, out var error))
            {
                case ScanResult.Done:
                    if (_reader.Arguments.Count > 0)
                    {
                        Execute(rest);
                    }

                    consumed += used;
                    break;
                case ScanResult.NeedMoreData:
                    BytesNeeded = needed;
                    return consumed;
                default:
                    _stats.Error();
                    Reply(w => w.Error("ERR", $"Protocol error: {error}"));
                    Closing = true;
                    break;
            }
        }

        return consumed;
    }

    private void Execute(ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        var name = Name(input[args[0]]);
        _stats.Command(Known.Contains(name) ? name : "other");
        if (!_authenticated && name is not ("AUTH" or "HELLO" or "QUIT"))
        {
            Fail("NOAUTH", "Authentication required.");
            return;
        }

        // Each family answers the commands it knows, with the right number of arguments.
        if (KeyCommand(name, input) || ConnectionCommand(name, input) || ServerCommand(name, input))
        {
            return;
        }

        if (Writes.Contains(name))
        {
            Fail("READONLY", "You can't write against a read only replica. (cube serves embedding tables read-only; new versions come through the transfer)");
        }
        else if (Known.Contains(name))
        {
            Fail("ERR", $"wrong number of arguments for '{name.ToLowerInvariant()}' command");
        }
        else
        {
            Fail("ERR", $"unknown command '{Printable(input[args[0]])}' (a read-only embedding server: GET MGET HGET HMGET EXISTS PING INFO DBSIZE …)");
        }
    }

    /// <summary>An error reply, counted.</summary>
    private void Fail(string code, string message)
    {
        _stats.Error();
        Reply(w => w.Error(code, message));
    }

    /// <summary>Writes a reply in order: into Output, or behind the pending chain.</summary>
    private void Reply(Action<RespWriter> write)
    {
        if (_chained && _tail.IsCompleted)
        {
            _chained = false;
        }

        if (!_chained)
        {
            write(_writer);
            return;
        }

        var buffer = new OutputBuffer(256);
        write(new RespWriter(buffer) { Resp3 = _resp3 });
        _tail = SendAfter(_tail, buffer);
    }

    /// <summary>Replies from here on go through the sink; what Output holds goes first.</summary>
    private void StartChain()
    {
        if (_chained && _tail.IsCompleted)
        {
            _chained = false;
        }

        if (_chained)
        {
            return;
        }

        _chained = true;
        if (_output.Length > 0)
        {
            var earlier = new OutputBuffer(_output.Length);
            earlier.Write(_output.WrittenSpan);
            _output.Clear();
            _tail = SendAfter(_tail, earlier);
        }
    }

    private Task SendAfter(Task previous, OutputBuffer reply)
    {
        _replies.Window.Enter();
        return SendInTurn(previous, reply);
    }

    /// <summary>Sends a computed reply after the one before it; releases its place in the window
    /// whether or not the send succeeded (a failed send closes the connection).</summary>
    private async Task SendInTurn(Task previous, OutputBuffer reply)
    {
        var bytes = reply.Length;
        _replies.Window.Computed(bytes);
        try
        {
            await previous.ConfigureAwait(false);
            await _replies.SendAsync(reply.Written).ConfigureAwait(false);
        }
        finally
        {
            _replies.Window.Sent(bytes);
        }
    }

    /// <summary>A command name in upper case (names are ASCII; anything else is "other").</summary>
    private static string Name(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 32)
        {
            return "?";
        }

        Span<char> chars = stackalloc char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = char.ToUpperInvariant((char)bytes[i]);
        }

        return Interned.TryGetValue(chars, out var known) ? known : new string(chars);
    }

    /// <summary>A client name as Redis takes it: printable ASCII without spaces (it is shown in
    /// lists and logs one per line).</summary>
    private static bool ValidName(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Bytes shown in an error: at most 64, non-printable as '?'.</summary>
    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var shown = bytes[..Math.Min(bytes.Length, 64)];
        var chars = new char[shown.Length];
        for (var i = 0; i < shown.Length; i++)
        {
            chars[i] = shown[i] is >= 0x20 and < 0x7F and not (byte)'\'' ? (char)shown[i] : '?';
        }

        return bytes.Length > 64 ? new string(chars) + "…" : new string(chars);
    }

    /// <summary>The Redis version clients see in HELLO and INFO: the command set here is that of Redis 7 (read-only).</summary>
    public const string CompatibleVersion = "7.0.0";

    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "GET", "MGET", "EXISTS", "HGET", "HMGET", "HEXISTS", "PING", "ECHO", "QUIT", "AUTH", "HELLO", "SELECT", "CLIENT", "COMMAND", "CONFIG", "INFO", "DBSIZE",
    };

    private static readonly HashSet<string> Writes = new(StringComparer.Ordinal)
    {
        "SET", "SETNX", "SETEX", "PSETEX", "MSET", "MSETNX", "GETSET", "GETDEL", "GETEX", "APPEND", "SETRANGE", "DEL", "UNLINK", "EXPIRE", "PEXPIRE",
        "EXPIREAT", "PEXPIREAT", "PERSIST", "RENAME", "RENAMENX", "INCR", "DECR", "INCRBY", "DECRBY", "INCRBYFLOAT", "HSET", "HSETNX", "HMSET", "HDEL",
        "HINCRBY", "HINCRBYFLOAT", "FLUSHDB", "FLUSHALL", "COPY", "MOVE", "RESTORE", "LPUSH", "RPUSH", "SADD", "ZADD", "XADD",
    };

    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> Interned =
        Known.Concat(Writes).Concat(["DOCS", "COUNT", "SETNAME", "GETNAME", "ID", "SETINFO", "NO-EVICT", "NO-TOUCH", "REPLY", "AUTH", "GET", "ON", "OFF", "SKIP"])
            .Distinct().ToDictionary(n => n, n => n, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
}
