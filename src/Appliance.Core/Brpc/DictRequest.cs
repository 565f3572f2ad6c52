namespace Appliance.Core.Brpc;

/// <summary>
/// <c>rec.mcube.DictRequest { repeated uint64 keys = 1; optional bool version_required = 2; }</c>,
/// the payload of <c>DictService.seek</c>. Keys are accepted both as separate varint fields
/// (proto2's default for a repeated scalar, what the original clients send) and packed (one
/// length-delimited run), in any mix; their order is the request's. Read in one pass: at a few
/// hundred keys per request its cost is per key, beside the lookup's own.
/// </summary>
internal static class DictRequest
{
    public const int KeysField = 1;
    public const int VersionRequiredField = 2;

    /// <summary>Reads the keys into <paramref name="keys"/>, in order; returns how many the request
    /// holds. More than <paramref name="keys"/> can take are counted but not stored: a return value
    /// over its length means the request is over the caller's limit. A buffer as long as the
    /// payload always suffices (every key takes at least one byte of it).</summary>
    public static int Read(ReadOnlySpan<byte> payload, Span<ulong> keys, out bool versionRequired)
    {
        versionRequired = false;
        var count = 0;
        var at = 0;
        while (at < payload.Length)
        {
            // The common case first: proto2's unpacked repeated field, tag 0x08 then the key.
            if (payload[at] == (KeysField << 3 | ProtoWire.Varint))
            {
                at++;
                var key = ProtoWire.ReadVarint(payload, ref at);
                if ((uint)count < (uint)keys.Length)
                {
                    keys[count] = key;
                }

                count++;
                continue;
            }

            var reader = new ProtoReader(payload, at);
            reader.TryReadTag(out var field, out var wire);
            if (field == KeysField && wire == ProtoWire.LengthDelimited)
            {
                var packed = reader.ReadLengthDelimited();
                for (var p = 0; p < packed.Length;)
                {
                    var key = ProtoWire.ReadVarint(packed, ref p);
                    if ((uint)count < (uint)keys.Length)
                    {
                        keys[count] = key;
                    }

                    count++;
                }
            }
            else if (field == VersionRequiredField)
            {
                versionRequired = reader.ReadVarintField(field, wire) != 0;
            }
            else if (field == KeysField)
            {
                throw new ProtoFormatException($"offset {at}: keys (field 1) has wire type {wire}, expected varint or packed");
            }
            else
            {
                reader.Skip(wire);
            }

            at = reader.Offset;
        }

        return count;
    }

    public static int Size(ReadOnlySpan<ulong> keys, bool versionRequired)
    {
        var size = versionRequired ? 2 : 0;
        foreach (var key in keys)
        {
            size += 1 + ProtoWire.VarintSize(key);
        }

        return size;
    }

    /// <summary>Writes the keys unpacked, as the original clients do.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<ulong> keys, bool versionRequired)
    {
        var n = 0;
        foreach (var key in keys)
        {
            destination[n++] = (KeysField << 3) | ProtoWire.Varint;
            n += ProtoWire.WriteVarint(destination[n..], key);
        }

        if (versionRequired)
        {
            destination[n++] = (VersionRequiredField << 3) | ProtoWire.Varint;
            destination[n++] = 1;
        }

        return n;
    }
}
