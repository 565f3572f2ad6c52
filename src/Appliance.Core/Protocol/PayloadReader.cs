using System.Buffers.Binary;
using System.Text;

namespace Appliance.Core.Protocol;

/// <summary>Reads a payload front to back; every read is bounds-checked and a short payload is
/// reported as a <see cref="ProtocolException"/> naming the field and offset.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;

    public int Offset { get; private set; }

    public readonly int Remaining => _payload.Length - Offset;

    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));

    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));

    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

    public ReadOnlySpan<byte> ReadBytes(int count, string field) => Take(count, field);

    /// <summary>A u16 length, then that many bytes. (The length's field name is only composed for
    /// the error: this runs on every request and reply, which must not allocate.)</summary>
    public ReadOnlySpan<byte> ReadShortBytes(string field) =>
        Take(BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field, " length")), field);

    public string ReadShortString(string field) => Encoding.UTF8.GetString(ReadShortBytes(field));

    public readonly void ExpectEnd(string what)
    {
        if (Offset != _payload.Length)
        {
            throw new ProtocolException($"{what}: {_payload.Length - Offset} unexpected bytes after offset {Offset}");
        }
    }

    private ReadOnlySpan<byte> Take(int count, string field, string? suffix = null)
    {
        if (count < 0 || count > _payload.Length - Offset)
        {
            throw new ProtocolException($"payload too short for {field}{suffix}: {count} bytes needed at offset {Offset}, {_payload.Length - Offset} left");
        }

        var span = _payload.Slice(Offset, count);
        Offset += count;
        return span;
    }
}
