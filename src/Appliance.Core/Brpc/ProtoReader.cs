namespace Appliance.Core.Brpc;

/// <summary>
/// Reads one message's fields in order. Every read is bounds-checked against the message: a length
/// or a varint that runs past its end is a <see cref="ProtoFormatException"/> naming the offset,
/// never a read beyond it or an allocation sized by it. Offsets are from the start of the span
/// given (a reader may begin part-way: <c>start</c>).
/// </summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> message, int start = 0)
{
    private readonly ReadOnlySpan<byte> _message = message;
    private int _offset = start;

    public readonly int Offset => _offset;

    public readonly bool AtEnd => _offset >= _message.Length;

    /// <summary>The next field's number and wire type; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        if (AtEnd)
        {
            field = 0;
            wireType = 0;
            return false;
        }

        var start = _offset;
        var tag = ReadVarint();
        field = (int)Math.Min(tag >> 3, int.MaxValue);
        wireType = (int)(tag & 7);
        if (field == 0)
        {
            throw new ProtoFormatException($"offset {start}: field number 0");
        }

        return true;
    }

    public ulong ReadVarint() => ProtoWire.ReadVarint(_message, ref _offset);

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        var start = _offset;
        var length = ReadVarint();
        if (length > (ulong)(_message.Length - _offset))
        {
            throw new ProtoFormatException($"offset {start}: length {length} runs past the end of the message ({_message.Length - _offset} bytes left)");
        }

        var content = _message.Slice(_offset, (int)length);
        _offset += (int)length;
        return content;
    }

    /// <summary>Skips a field this reader does not know (protobuf's rule: unknown fields are ignored).</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case ProtoWire.Varint:
                ReadVarint();
                break;
            case ProtoWire.Fixed64:
                Advance(8);
                break;
            case ProtoWire.LengthDelimited:
                ReadLengthDelimited();
                break;
            case ProtoWire.Fixed32:
                Advance(4);
                break;
            default:
                // 3 and 4 are proto2 groups, which none of these messages has; 6 and 7 do not exist.
                throw new ProtoFormatException($"offset {_offset}: wire type {wireType} is not supported");
        }
    }

    /// <summary>Reads a field expected to be a varint, checking its wire type.</summary>
    public ulong ReadVarintField(int field, int wireType) =>
        wireType == ProtoWire.Varint ? ReadVarint() : throw WrongType(field, wireType, "varint");

    public ReadOnlySpan<byte> ReadBytesField(int field, int wireType) =>
        wireType == ProtoWire.LengthDelimited ? ReadLengthDelimited() : throw WrongType(field, wireType, "length-delimited");

    private readonly ProtoFormatException WrongType(int field, int wireType, string expected) =>
        new($"offset {_offset}: field {field} has wire type {wireType}, expected {expected}");

    private void Advance(int count)
    {
        if (count > _message.Length - _offset)
        {
            throw new ProtoFormatException($"offset {_offset}: {count}-byte field runs past the end of the message");
        }

        _offset += count;
    }
}
