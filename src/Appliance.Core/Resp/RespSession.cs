using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text;
using Appliance.Core.Client;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Resp;

/// <summary>
/// A read-only Redis front on one connection (RESP2, RESP3 after <c>HELLO 3</c>), without the
/// socket: commands are found by <see cref="RespReader"/> and answered from an
/// <see cref="IRespKeyspace"/>. A key is the decimal uint64 text; a value is the row as float32
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
public sealed class RespSession : ISession
{
    private readonly IRespKeyspace _keyspace;
    private readonly int _maxRequest;
    private readonly BearerToken? _token;
    private readonly IReplySink _replies;
    private readonly RespStats _stats;
    private readonly RespReader _reader = new();
    private readonly FrameBuffer _output = new(0);
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
    public RespSession(IRespKeyspace keyspace, int maxRequest, BearerToken? token, IReplySink replies, RespStats stats, long id = 0)
    {
        _id = id;
        _keyspace = keyspace;
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

        switch (name)
        {
            case "GET" when args.Count == 2:
                Lookup(input, _keyspace.DefaultDict, 1, RowReply.One);
                break;
            case "MGET" when args.Count >= 2:
                Lookup(input, _keyspace.DefaultDict, 1, RowReply.Many);
                break;
            case "EXISTS" when args.Count >= 2:
                Lookup(input, _keyspace.DefaultDict, 1, RowReply.Count);
                break;
            case "HGET" when args.Count == 3:
            case "HMGET" when args.Count >= 3:
            case "HEXISTS" when args.Count == 3:
                var dict = Encoding.UTF8.GetString(input[args[1]]);
                if (!_keyspace.Serves(dict))
                {
                    Fail("ERR", $"no dict '{dict}' here (this port serves '{_keyspace.DefaultDict}')");
                    return;
                }

                Lookup(input, dict, 2, name == "HGET" ? RowReply.One : name == "HMGET" ? RowReply.Many : RowReply.Count);
                break;
            case "PING" when args.Count <= 2:
                var message = args.Count == 2 ? input[args[1]].ToArray() : null;
                Reply(w =>
                {
                    if (message is null)
                    {
                        w.Simple("PONG");
                    }
                    else
                    {
                        w.Bulk(message);
                    }
                });
                break;
            case "ECHO" when args.Count == 2:
                var echo = input[args[1]].ToArray();
                Reply(w => w.Bulk(echo));
                break;
            case "QUIT":
                Reply(w => w.Simple("OK"));
                Closing = true;
                break;
            case "AUTH" when args.Count is 2 or 3:
                Authenticate(args.Count == 3 ? input[args[1]] : "default"u8, input[args[^1]], then: w => w.Simple("OK"));
                break;
            case "HELLO":
                Hello(input);
                break;
            case "SELECT" when args.Count == 2:
                if (input[args[1]].SequenceEqual("0"u8))
                {
                    Reply(w => w.Simple("OK"));
                }
                else
                {
                    Fail("ERR", "DB index is out of range (one table: database 0)");
                }

                break;
            case "CLIENT" when args.Count >= 2:
                Client(input);
                break;
            case "COMMAND":
                var sub = args.Count >= 2 ? Name(input[args[1]]) : string.Empty;
                Reply(w =>
                {
                    switch (sub)
                    {
                        case "COUNT":
                            w.Integer(Known.Count);
                            break;
                        case "DOCS":
                            w.Map(0);
                            break;
                        default:
                            w.Array(0);
                            break;
                    }
                });
                break;
            case "CONFIG" when args.Count >= 3 && Name(input[args[1]]) == "GET":
                var parameter = Encoding.UTF8.GetString(input[args[2]]).ToLowerInvariant();
                var value = parameter switch { "save" => string.Empty, "appendonly" => "no", "databases" => "1", _ => null };
                Reply(w =>
                {
                    w.Map(value is null ? 0 : 1);
                    if (value is not null)
                    {
                        w.Bulk(parameter);
                        w.Bulk(value);
                    }
                });
                break;
            case "INFO":
                var text = InfoText(args.Count >= 2 ? Encoding.UTF8.GetString(input[args[1]]).ToLowerInvariant() : "all");
                Reply(w => w.Bulk(text));
                break;
            case "DBSIZE" when args.Count == 1:
                if (_keyspace.Info().Keys is { } keys)
                {
                    Reply(w => w.Integer(keys));
                }
                else
                {
                    Fail("ERR", "DBSIZE is not known here (a proxy holds no table; each shard server answers for its shard)");
                }

                break;
            case var _ when Writes.Contains(name):
                Fail("READONLY", "You can't write against a read only replica. (cube serves embedding tables read-only; new versions come through the transfer)");
                break;
            case var _ when Known.Contains(name):
                Fail("ERR", $"wrong number of arguments for '{name.ToLowerInvariant()}' command");
                break;
            default:
                Fail("ERR", $"unknown command '{Printable(input[args[0]])}' (a read-only embedding server: GET MGET HGET HMGET EXISTS PING INFO DBSIZE …)");
                break;
        }
    }

    private enum RowReply
    {
        One,
        Many,
        Count,
    }

    private void Lookup(ReadOnlySpan<byte> input, string dict, int firstKey, RowReply reply)
    {
        var args = _reader.Arguments;
        var count = args.Count - firstKey;
        // A local shard answers before this returns: its key array is reused; the cluster's
        // lookup holds its array until it completes.
        var keys = _keyspace.AnswersAtOnce ? Scratch(count) : new ulong[count];
        for (var i = 0; i < count; i++)
        {
            var text = input[args[firstKey + i]];
            if (!Utf8Parser.TryParse(text, out ulong key, out var used) || used != text.Length)
            {
                Fail("ERR", $"key '{Printable(text)}' (argument {firstKey + i + 1}) is not a decimal uint64; the table's keys are numbers");
                return;
            }

            keys[i] = key;
        }

        _stats.Read(count);
        var lookup = _keyspace.LookupAsync(dict, keys, count);
        if (!_chained && lookup.IsCompletedSuccessfully)
        {
            using var rows = lookup.Result;
            WriteRows(_writer, rows, reply);
            return;
        }

        StartChain();
        _tail = ReplyWhenDone(_tail, lookup, reply, _resp3);
    }

    /// <summary>The next reply may go through the sink (and so counts against the window).</summary>
    private bool RepliesLater => !_keyspace.AnswersAtOnce || (_chained && !_tail.IsCompleted);

    private async Task ReplyWhenDone(Task previous, ValueTask<KeyRows> lookup, RowReply reply, bool resp3)
    {
        _replies.Window.Enter();
        var buffer = new FrameBuffer(1024);
        var writer = new RespWriter(buffer) { Resp3 = resp3 };
        try
        {
            using var rows = await lookup.ConfigureAwait(false);
            WriteRows(writer, rows, reply);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            buffer.Clear();
            _stats.Error();
            writer.Error("ERR", $"lookup failed: {e.Message}");
        }

        await SendInTurn(previous, buffer).ConfigureAwait(false);
    }

    private void WriteRows(RespWriter w, KeyRows rows, RowReply reply)
    {
        if (reply == RowReply.Count)
        {
            var found = 0;
            for (var i = 0; i < rows.Count; i++)
            {
                if (rows.Status(i) == KeyStatus.Failed)
                {
                    _stats.Error();
                    w.Error("ERR", $"key {i + 1} of {rows.Count}: {rows.Error(i)}");
                    return;
                }

                found += rows.Status(i) == KeyStatus.Found ? 1 : 0;
            }

            w.Integer(found);
            return;
        }

        if (reply == RowReply.Many)
        {
            w.Array(rows.Count);
        }

        for (var i = 0; i < rows.Count; i++)
        {
            switch (rows.Status(i))
            {
                case KeyStatus.Found:
                    WriteRow(w, rows.Row(i), rows.Codec);
                    break;
                case KeyStatus.Missing:
                    w.Null();
                    break;
                default:
                    _stats.Error();
                    w.Error("ERR", rows.Error(i));
                    break;
            }
        }
    }

    /// <summary>The row as float32 little-endian, decoded from the table's codec (f32 and raw rows as stored).</summary>
    private static void WriteRow(RespWriter w, ReadOnlySpan<byte> row, ValueCodec codec)
    {
        if (codec is ValueCodec.Raw or ValueCodec.F32)
        {
            w.Bulk(row);
            return;
        }

        var length = ValueCodecs.Float32Length(codec, row.Length);
        w.BulkHeader(length);
        ValueCodecs.DecodeToFloat32(codec, row, w.Output.GetSpan(length)[..length]);
        w.Output.Advance(length);
        w.EndBulk();
    }

    private void Authenticate(ReadOnlySpan<byte> user, ReadOnlySpan<byte> password, Action<RespWriter> then)
    {
        if (_token is null)
        {
            Fail("ERR", "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }

        if (!user.SequenceEqual("default"u8) || !_token.Accepts(password))
        {
            _stats.Error();
            _stats.AuthFailed(_replies.Peer, ++_authFailures);
            if (_authFailures <= FreeAuthAttempts)
            {
                Reply(w => w.Error("WRONGPASS", "invalid username-password pair or user is disabled."));
                return;
            }

            // Guessing is slowed: the answer, and everything after it on this connection, waits.
            var delay = FirstAuthDelay * Math.Pow(2, Math.Min(_authFailures - FreeAuthAttempts - 1, 10));
            StartChain();
            var reply = new FrameBuffer(256);
            new RespWriter(reply) { Resp3 = _resp3 }.Error("WRONGPASS", "invalid username-password pair or user is disabled.");
            _throttle = Task.Delay(delay < MaxAuthDelay ? delay : MaxAuthDelay);
            _replies.Window.Enter();
            _tail = SendInTurn(Task.WhenAll(_tail, _throttle), reply);
            return;
        }

        _authenticated = true;
        Reply(then);
    }

    private void Hello(ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        var version = 2;
        if (args.Count >= 2 && (!Utf8Parser.TryParse(input[args[1]], out version, out var used) || used != args[1].GetOffsetAndLength(input.Length).Length || version is < 2 or > 3))
        {
            Fail("NOPROTO", "unsupported protocol version");
            return;
        }

        byte[]? user = null, password = null;
        for (var i = 2; i < args.Count; i++)
        {
            var option = Name(input[args[i]]);
            if (option == "AUTH" && i + 2 < args.Count)
            {
                (user, password) = (input[args[i + 1]].ToArray(), input[args[i + 2]].ToArray());
                i += 2;
            }
            else if (option == "SETNAME" && i + 1 < args.Count)
            {
                if (!ValidName(input[args[++i]]))
                {
                    Fail("ERR", "Client names cannot contain spaces, newlines or special characters.");
                    return;
                }

                _name = Encoding.UTF8.GetString(input[args[i]]);
            }
            else
            {
                Fail("ERR", $"syntax error in HELLO option '{Printable(input[args[i]])}'");
                return;
            }
        }

        void Answer(RespWriter w)
        {
            _resp3 = version == 3;
            w.Resp3 = _resp3;
            _writer.Resp3 = _resp3; // when this answer is queued, the replies after it are written here
            w.Map(7);
            w.Bulk("server");
            w.Bulk("cube-appliance");
            w.Bulk("version");
            w.Bulk(CompatibleVersion);
            w.Bulk("proto");
            w.Integer(version);
            w.Bulk("id");
            w.Integer(_id);
            w.Bulk("mode");
            w.Bulk("standalone");
            w.Bulk("role");
            w.Bulk("replica"); // read-only, wherever it runs
            w.Bulk("modules");
            w.Array(0);
        }

        if (password is not null)
        {
            Authenticate(user, password, Answer);
        }
        else if (!_authenticated)
        {
            Fail("NOAUTH", "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        else
        {
            Reply(Answer);
        }
    }

    private void Client(ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        switch (Name(input[args[1]]))
        {
            case "SETNAME" when args.Count == 3:
                if (!ValidName(input[args[2]]))
                {
                    Fail("ERR", "Client names cannot contain spaces, newlines or special characters.");
                    return;
                }

                _name = Encoding.UTF8.GetString(input[args[2]]);
                Reply(w => w.Simple("OK"));
                break;
            case "GETNAME":
                var name = _name;
                Reply(w =>
                {
                    if (name is null)
                    {
                        w.Null();
                    }
                    else
                    {
                        w.Bulk(name);
                    }
                });
                break;
            case "ID":
                Reply(w => w.Integer(_id));
                break;
            case "REPLY" when args.Count == 3 && Name(input[args[2]]) == "ON":
            case "SETINFO" or "NO-EVICT" or "NO-TOUCH":
                Reply(w => w.Simple("OK"));
                break;
            case "REPLY":
                // Answering +OK and replying anyway would leave the client reading replies it
                // believes were never sent.
                Fail("ERR", "CLIENT REPLY OFF and SKIP are not supported here (every command is answered); CLIENT REPLY ON is");
                break;
            default:
                Fail("ERR", $"unknown subcommand '{Printable(input[args[1]])}' of CLIENT (SETNAME GETNAME ID SETINFO are answered)");
                break;
        }
    }

    private string InfoText(string section)
    {
        var info = _keyspace.Info();
        var all = section is "all" or "everything" or "default";
        var text = new StringBuilder();
        if (all || section == "server")
        {
            text.Append("# Server\r\nredis_version:").Append(CompatibleVersion).Append("\r\nredis_mode:standalone\r\ncube_appliance_version:")
                .Append(typeof(RespSession).Assembly.GetName().Version?.ToString(3)).Append("\r\ncube_role:").Append(info.Role)
                .Append("\r\ncube_serves:").Append(info.Description).Append("\r\n\r\n");
        }

        if (all || section == "replication")
        {
            text.Append("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\n"); // read-only: clients treat it as a replica
        }

        if (all || section == "stats")
        {
            text.Append("# Stats\r\ntotal_commands_processed:").Append(_stats.Commands.Sum(c => c.Value))
                .Append("\r\ncube_keys_read:").Append(_stats.Keys).Append("\r\ncube_error_replies:").Append(_stats.Errors)
                .Append("\r\ncube_table_version:").Append(info.Version).Append("\r\n\r\n");
        }

        if (all || section == "keyspace")
        {
            text.Append("# Keyspace\r\n");
            if (info.Keys is { } keys)
            {
                text.Append("db0:keys=").Append(keys).Append(",expires=0,avg_ttl=0\r\n");
            }
        }

        return text.ToString();
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

        var buffer = new FrameBuffer(256);
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
            var earlier = new FrameBuffer(_output.Length);
            earlier.Write(_output.WrittenSpan);
            _output.Clear();
            _tail = SendAfter(_tail, earlier);
        }
    }

    private Task SendAfter(Task previous, FrameBuffer reply)
    {
        _replies.Window.Enter();
        return SendInTurn(previous, reply);
    }

    /// <summary>Sends a computed reply after the one before it; releases its place in the window
    /// whether or not the send succeeded (a failed send closes the connection).</summary>
    private async Task SendInTurn(Task previous, FrameBuffer reply)
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

    private ulong[] Scratch(int count)
    {
        if (_keys.Length < count)
        {
            _keys = new ulong[Math.Max(count, _keys.Length * 2)];
        }

        return _keys;
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
