using System.Text;
using Appliance.Core.Storage;

namespace Appliance.Core.Protocol;

/// <summary>
/// Payloads of the lookup opcode (docs/protocol.md), little-endian:
/// <code>
/// request:  u16 dict length | dict (UTF-8) | u32 key count N | N × u64 key
/// response: u16 version length | version (UTF-8, "&lt;base&gt;" or "&lt;base&gt;_&lt;patch&gt;")
///           | u8 value codec (ValueCodec: how to decode the values) | u32 N | N × u32 entry
///           | the found values' bytes, concatenated in key order
///           entry = the value's length, or 0xFFFFFFFF for a missing key
/// </code>
/// One entry per requested key, in request order; duplicate keys are answered each time.
/// </summary>
internal static class LookupCodec
{
    public const uint MissingEntry = 0xFFFFFFFF;

    public static void WriteRequest(FrameBuffer buffer, uint requestId, string dict, ReadOnlySpan<ulong> keys)
    {
        buffer.BeginFrame(Opcode.Lookup, FrameFlags.None, requestId);
        buffer.WriteShortString(dict);
        buffer.WriteUInt32((uint)keys.Length);
        foreach (var key in keys)
        {
            buffer.WriteUInt64(key);
        }

        buffer.EndFrame();
    }

    /// <summary>Parses a request; <paramref name="keys"/> must hold the key count (use
    /// <see cref="PeekKeyCount"/>). Returns the number of keys.</summary>
    public static int ReadRequest(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> dict, Span<ulong> keys)
    {
        var reader = new PayloadReader(payload);
        dict = reader.ReadShortBytes("dict");
        var count = reader.ReadUInt32("key count");
        if (count > (uint)keys.Length && count * 8L == reader.Remaining)
        {
            throw new ProtocolException($"{count} keys in one request exceed the limit of {keys.Length}");
        }

        if (count * 8L != reader.Remaining)
        {
            throw new ProtocolException($"key count {count} does not match the {reader.Remaining} bytes of keys");
        }

        for (var i = 0; i < (int)count; i++)
        {
            keys[i] = reader.ReadUInt64("key");
        }

        return (int)count;
    }

    /// <summary>Key count of a request payload, for sizing scratch space: (remaining bytes) / 8.</summary>
    public static int PeekKeyCount(ReadOnlySpan<byte> payload) => payload.Length / 8;

    public static void WriteResponse(FrameBuffer buffer, uint requestId, ReadOnlySpan<byte> versionUtf8, ValueCodec codec, ReadOnlySpan<ValueRef> results)
    {
        buffer.BeginFrame(Opcode.Lookup, FrameFlags.Response, requestId);
        buffer.WriteUInt16((ushort)versionUtf8.Length);
        buffer.Write(versionUtf8);
        buffer.Write([(byte)codec]);
        buffer.WriteUInt32((uint)results.Length);
        var entries = buffer.GetSpan(results.Length * 4);
        for (var i = 0; i < results.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(entries[(i * 4)..], results[i].Found ? (uint)results[i].Length : MissingEntry);
        }

        buffer.Advance(results.Length * 4);
        foreach (var r in results)
        {
            if (r.Found)
            {
                buffer.Write(r.Span);
            }
        }

        buffer.EndFrame();
    }

    [ThreadStatic]
    private static (byte[] Bytes, string Text)? t_lastVersion;

    /// <summary>The version label as a string, reusing the last one this thread decoded: every
    /// reply carries it and it changes only when a new version is activated.</summary>
    private static string VersionText(ReadOnlySpan<byte> bytes)
    {
        if (t_lastVersion is { } last && bytes.SequenceEqual(last.Bytes))
        {
            return last.Text;
        }

        var text = Encoding.UTF8.GetString(bytes);
        t_lastVersion = (bytes.ToArray(), text);
        return text;
    }

    /// <summary>Parses a response into per-key value slices of <paramref name="payload"/>
    /// (offset, length; length −1 = missing). Returns the version and the value codec.</summary>
    public static (string Version, ValueCodec Codec) ReadResponse(ReadOnlySpan<byte> payload, Span<(int Offset, int Length)> values)
    {
        var reader = new PayloadReader(payload);
        var version = VersionText(reader.ReadShortBytes("version"));
        var codec = (ValueCodec)reader.ReadBytes(1, "value codec")[0];
        var count = reader.ReadUInt32("key count");
        if (count != (uint)values.Length)
        {
            throw new ProtocolException($"response has {count} entries for {values.Length} keys");
        }

        var entries = reader.ReadBytes(checked((int)count * 4), "entries");
        var offset = reader.Offset;
        for (var i = 0; i < values.Length; i++)
        {
            var entry = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(entries[(i * 4)..]);
            if (entry == MissingEntry)
            {
                values[i] = (0, -1);
                continue;
            }

            if (entry > (uint)(payload.Length - offset))
            {
                throw new ProtocolException($"value {i} of {entry} bytes runs past the payload");
            }

            values[i] = (offset, (int)entry);
            offset += (int)entry;
        }

        if (offset != payload.Length)
        {
            throw new ProtocolException($"{payload.Length - offset} unexpected bytes after the values");
        }

        return (version, codec);
    }
}
