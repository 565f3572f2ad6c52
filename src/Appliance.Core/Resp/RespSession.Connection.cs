using System.Buffers.Text;
using System.Text;
using Appliance.Core.Buffers;

namespace Appliance.Core.Resp;

/// <summary>The connection commands: PING, ECHO, QUIT, AUTH, HELLO, SELECT, CLIENT — what the
/// handshakes of stock clients send.</summary>
internal sealed partial class RespSession
{
    private bool ConnectionCommand(string name, ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        switch (name)
        {
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
                return true;
            case "ECHO" when args.Count == 2:
                var echo = input[args[1]].ToArray();
                Reply(w => w.Bulk(echo));
                return true;
            case "QUIT":
                Reply(w => w.Simple("OK"));
                Closing = true;
                return true;
            case "AUTH" when args.Count is 2 or 3:
                Authenticate(args.Count == 3 ? input[args[1]] : "default"u8, input[args[^1]], then: w => w.Simple("OK"));
                return true;
            case "HELLO":
                Hello(input);
                return true;
            case "SELECT" when args.Count == 2:
                if (input[args[1]].SequenceEqual("0"u8))
                {
                    Reply(w => w.Simple("OK"));
                }
                else
                {
                    Fail("ERR", "DB index is out of range (one table: database 0)");
                }

                return true;
            case "CLIENT" when args.Count >= 2:
                Client(input);
                return true;
            default:
                return false;
        }
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
            var reply = new OutputBuffer(256);
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
}
