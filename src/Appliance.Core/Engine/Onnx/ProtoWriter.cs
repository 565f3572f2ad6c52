using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Appliance.Core.Engine.Onnx;

/// <summary>
/// The protobuf wire format, as much as writing an ONNX model needs: varints, length-delimited
/// fields (strings, bytes, nested messages), packed little-endian floats. Field numbers are the
/// callers' (see <see cref="OnnxModelWriter"/>).
/// </summary>
internal sealed class ProtoWriter
{
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new();

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public void Varint(int field, long value)
    {
        Tag(field, 0);
        RawVarint((ulong)value);
    }

    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        RawVarint((ulong)value.Length);
        _buffer.Write(value);
    }

    public void Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        Bytes(field, inner.ToArray());
    }

    public void Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _buffer.Write(bytes);
    }

    private void Tag(int field, int wireType) => RawVarint((ulong)((field << 3) | wireType));

    private void RawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.Write<byte>([(byte)(value | 0x80)]);
            value >>= 7;
        }

        _buffer.Write<byte>([(byte)value]);
    }
}
