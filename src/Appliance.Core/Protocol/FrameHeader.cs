using System.Buffers.Binary;

namespace Appliance.Core.Protocol;

/// <summary>
/// The fixed 16-byte header in front of every frame, little-endian:
/// <code>
/// offset size field
///  0      2   magic 0x4243 ("CB" on the wire: 43 42)
///  2      1   protocol version (1)
///  3      1   opcode (Opcode)
///  4      2   flags (FrameFlags)
///  6      2   reserved, 0
///  8      4   request id: chosen by the client, echoed in the reply (replies may come out of order)
/// 12      4   payload length in bytes (the header not included); checked against the maximum
///             frame size before anything is allocated
/// 16      …   payload
/// </code>
/// </summary>
internal readonly record struct FrameHeader(Opcode Opcode, FrameFlags Flags, uint RequestId, int PayloadLength)
{
    public const int Size = 16;
    public const ushort Magic = 0x4243;
    public const byte Version = 1;

    /// <summary>Default largest payload accepted (64 MiB).</summary>
    public const int DefaultMaxPayload = 64 << 20;

    public int FrameLength => Size + PayloadLength;

    public bool IsResponse => (Flags & FrameFlags.Response) != 0;

    public bool IsError => (Flags & FrameFlags.Error) != 0;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = Version;
        destination[3] = (byte)Opcode;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], (ushort)Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], RequestId);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], PayloadLength);
    }
}
