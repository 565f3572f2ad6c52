using System.Buffers.Text;
using System.Text;
using Appliance.Core.Buffers;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Resp;

/// <summary>The key commands: GET, MGET, EXISTS on the default dict; HGET, HMGET, HEXISTS with the
/// dict named as the hash. Keys are parsed, looked up in one call, and the rows written in order.</summary>
internal sealed partial class RespSession
{
    private bool KeyCommand(string name, ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        switch (name)
        {
            case "GET" when args.Count == 2:
                Lookup(input, _dicts.DefaultDict, 1, RowReply.One);
                return true;
            case "MGET" when args.Count >= 2:
                Lookup(input, _dicts.DefaultDict, 1, RowReply.Many);
                return true;
            case "EXISTS" when args.Count >= 2:
                Lookup(input, _dicts.DefaultDict, 1, RowReply.Count);
                return true;
            case "HGET" when args.Count == 3:
            case "HMGET" when args.Count >= 3:
            case "HEXISTS" when args.Count == 3:
                var dict = Encoding.UTF8.GetString(input[args[1]]);
                if (!_dicts.Serves(dict))
                {
                    Fail("ERR", $"no dict '{dict}' here (this port serves '{_dicts.DefaultDict}')");
                    return true;
                }

                Lookup(input, dict, 2, name == "HGET" ? RowReply.One : name == "HMGET" ? RowReply.Many : RowReply.Count);
                return true;
            default:
                return false;
        }
    }

    private enum RowReply
    {
        One,
        Many,
        Count,
    }

    /// <summary>A GET or MGET read by <see cref="KeyCommandScanner"/>, answered as the general
    /// path answers it; 0 when the scanner does not read what comes next.</summary>
    private int TryKeyCommand(ReadOnlySpan<byte> input)
    {
        if (!_authenticated || !_reader.BetweenCommands)
        {
            return 0;
        }

        var used = KeyCommandScanner.TryScan(input, _maxRequest, ref _keys, out var count, out var many);
        if (used > 0)
        {
            _stats.Command(many ? "MGET" : "GET");
            Answer(_dicts.DefaultDict, _dicts.AnswersAtOnce ? _keys : _keys[..count], count, many ? RowReply.Many : RowReply.One);
        }

        return used;
    }

    private void Lookup(ReadOnlySpan<byte> input, string dict, int firstKey, RowReply reply)
    {
        var args = _reader.Arguments;
        var count = args.Count - firstKey;
        // A local shard answers before this returns: its key array is reused; the cluster's
        // lookup holds its array until it completes.
        var keys = _dicts.AnswersAtOnce ? Scratch(count) : new ulong[count];
        for (var i = 0; i < count; i++)
        {
            var text = input[args[firstKey + i]];
            if (!TryParseKey(text, out var key))
            {
                Fail("ERR", $"key '{Printable(text)}' (argument {firstKey + i + 1}) is not a decimal uint64; the table's keys are numbers");
                return;
            }

            keys[i] = key;
        }

        Answer(dict, keys, count, reply);
    }

    /// <summary>Looks the parsed keys up and replies: at once into Output, or behind the chain.</summary>
    private void Answer(string dict, ulong[] keys, int count, RowReply reply)
    {
        _stats.Read(count);
        var lookup = _dicts.LookupAsync(dict, keys, count);
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
    private bool RepliesLater => !_dicts.AnswersAtOnce || (_chained && !_tail.IsCompleted);

    private async Task ReplyWhenDone(Task previous, ValueTask<KeyRows> lookup, RowReply reply, bool resp3)
    {
        _replies.Window.Enter();
        var buffer = new OutputBuffer(1024);
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

        var codec = rows.Codec;
        if (codec is ValueCodec.Raw or ValueCodec.F32 && rows.TryGetRefs(out var refs))
        {
            // Rows as stored, straight from the store's answer (perf: the two calls per key were
            // 4 % of a RESP server's CPU). A loop of its own: folded into the general loop below
            // with a branch per key it measured 0.923 of this (bench/ab.sh, 6 pairs, all below 1).
            for (var i = 0; i < refs.Length; i++)
            {
                if (refs[i].Found)
                {
                    w.Bulk(refs[i].Span);
                }
                else if (refs[i].IsFailed)
                {
                    _stats.Error();
                    w.Error("ERR", rows.Error(i));
                }
                else
                {
                    w.Null();
                }
            }

            return;
        }

        for (var i = 0; i < rows.Count; i++)
        {
            switch (rows.Status(i))
            {
                case KeyStatus.Found:
                    WriteRow(w, rows.Row(i), codec);
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

    /// <summary>A key's decimal text (leading zeros allowed, nothing else): up to 19 digits cannot
    /// overflow and are read in one loop; longer ones are checked by the library parser.</summary>
    private static bool TryParseKey(ReadOnlySpan<byte> text, out ulong key)
    {
        if (text.Length is > 0 and <= 19)
        {
            ulong value = 0;
            foreach (var b in text)
            {
                var digit = (uint)(b - '0');
                if (digit > 9)
                {
                    key = 0;
                    return false;
                }

                value = (value * 10) + digit;
            }

            key = value;
            return true;
        }

        return Utf8Parser.TryParse(text, out key, out var used) && used == text.Length && text.Length > 0;
    }

    private ulong[] Scratch(int count)
    {
        if (_keys.Length < count)
        {
            _keys = new ulong[Math.Max(count, _keys.Length * 2)];
        }

        return _keys;
    }
}
