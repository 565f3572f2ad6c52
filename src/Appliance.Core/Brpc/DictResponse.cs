namespace Appliance.Core.Brpc;

/// <summary>
/// <c>rec.mcube.DictResponse { repeated DictValue values = 1; optional string version = 2; }</c>
/// with <c>DictValue { required uint32 status = 1; required bytes value = 2; }</c>: one value per
/// requested key, in request order; status 0 and the bytes when found, <see cref="NotFound"/> and
/// empty bytes when not. Both DictValue fields are required in proto2, so both are always written.
/// </summary>
internal static class DictResponse
{
    /// <summary>The original's status for a key it does not hold: (uint32)-1.</summary>
    public const uint NotFound = uint.MaxValue;

    public const int ValuesField = 1;
    public const int VersionField = 2;

    /// <summary>A missing key's DictValue field, whole: <c>0A 08 | 08 FF FF FF FF 0F | 12 00</c>
    /// (field 1, 8 bytes: status (uint32)-1, value empty).</summary>
    public static ReadOnlySpan<byte> MissingValue => [0x0A, 0x08, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12, 0x00];

    /// <summary>Longest value whose DictValue field has one-byte lengths (content 4 + length ≤ 127).</summary>
    private const int ShortValue = 123;

    /// <summary>Size of a found key's DictValue field with a value of <paramref name="length"/> bytes.</summary>
    public static int FoundSize(int length) => length <= ShortValue ? length + 6 : ValueSize(0, length);

    /// <summary>Writes a found key's DictValue field with <paramref name="value"/>; returns its size.
    /// A short value's six bytes in front are written directly: <c>0A len+4 | 08 00 | 12 len</c>.</summary>
    public static int WriteFound(Span<byte> destination, ReadOnlySpan<byte> value)
    {
        if (value.Length <= ShortValue)
        {
            destination[5] = (byte)value.Length;
            destination[4] = (2 << 3) | ProtoWire.LengthDelimited;
            destination[3] = 0;
            destination[2] = (1 << 3) | ProtoWire.Varint;
            destination[1] = (byte)(value.Length + 4);
            destination[0] = (ValuesField << 3) | ProtoWire.LengthDelimited;
            value.CopyTo(destination[6..]);
            return value.Length + 6;
        }

        var n = WriteValueHeader(destination, 0, value.Length);
        value.CopyTo(destination[n..]);
        return n + value.Length;
    }

    /// <summary>Size of one DictValue field (tag, length, content) with a value of <paramref name="length"/> bytes.</summary>
    public static int ValueSize(uint status, int length)
    {
        var content = ValueContentSize(status, length);
        return 1 + ProtoWire.VarintSize((ulong)content) + content;
    }

    /// <summary>Writes one DictValue field; <paramref name="value"/> gets the bytes to fill in
    /// (exactly the length given), so a caller can encode into the reply without a copy.</summary>
    public static int WriteValueHeader(Span<byte> destination, uint status, int length)
    {
        var n = 0;
        destination[n++] = (ValuesField << 3) | ProtoWire.LengthDelimited;
        n += ProtoWire.WriteVarint(destination[n..], (ulong)ValueContentSize(status, length));
        destination[n++] = (1 << 3) | ProtoWire.Varint;
        n += ProtoWire.WriteVarint(destination[n..], status);
        destination[n++] = (2 << 3) | ProtoWire.LengthDelimited;
        return n + ProtoWire.WriteVarint(destination[n..], (ulong)length);
    }

    /// <summary>Reads a DictResponse: each value's status and bytes to <paramref name="onValue"/>
    /// (in order), and the version (empty when absent).</summary>
    public static ReadOnlySpan<byte> Read<TState>(ReadOnlySpan<byte> payload, TState state, ValueVisitor<TState> onValue)
    {
        var reader = new ProtoReader(payload);
        ReadOnlySpan<byte> version = default;
        var index = 0;
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field == ValuesField)
            {
                var value = new ProtoReader(reader.ReadBytesField(field, wire));
                uint status = 0;
                ReadOnlySpan<byte> bytes = default;
                while (value.TryReadTag(out var f, out var w))
                {
                    switch (f)
                    {
                        case 1: status = (uint)value.ReadVarintField(f, w); break;
                        case 2: bytes = value.ReadBytesField(f, w); break;
                        default: value.Skip(w); break;
                    }
                }

                onValue(state, index++, status, bytes);
            }
            else if (field == VersionField)
            {
                version = reader.ReadBytesField(field, wire);
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return version;
    }

    private static int ValueContentSize(uint status, int length) =>
        1 + ProtoWire.VarintSize(status) + 1 + ProtoWire.VarintSize((ulong)length) + length;
}

/// <summary>Receives one DictValue of a response being read.</summary>
internal delegate void ValueVisitor<in TState>(TState state, int index, uint status, ReadOnlySpan<byte> value);
