using System.Buffers.Binary;

namespace Appliance.Core.Protocol;

/// <summary>
/// The one place that decides whether a buffer starts with a whole frame. Magic, version and the
/// payload length bound are checked as soon as the 16 header bytes are there — before the payload
/// arrives and before anything is allocated for it.
/// </summary>
internal static class FrameScanner
{
    public static ScanResult TryScan(ReadOnlySpan<byte> buffer, int maxPayload, out FrameHeader header, out string? error)
    {
        header = default;
        error = null;
        if (buffer.Length < 2)
        {
            return buffer.Length == 1 && buffer[0] != (byte)(FrameHeader.Magic & 0xFF) ? Invalid("bad magic", out error) : ScanResult.NeedMoreData;
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(buffer) != FrameHeader.Magic)
        {
            return Invalid($"bad magic 0x{BinaryPrimitives.ReadUInt16LittleEndian(buffer):x4}", out error);
        }

        if (buffer.Length < FrameHeader.Size)
        {
            return ScanResult.NeedMoreData;
        }

        if (buffer[2] != FrameHeader.Version)
        {
            return Invalid($"protocol version {buffer[2]} is not supported (expected {FrameHeader.Version})", out error);
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(buffer[12..]);
        if (length < 0 || length > maxPayload)
        {
            return Invalid($"payload length {(uint)length} exceeds the maximum {maxPayload}", out error);
        }

        header = new FrameHeader(
            (Opcode)buffer[3],
            (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(buffer[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[8..]),
            length);
        return buffer.Length >= header.FrameLength ? ScanResult.Done : ScanResult.NeedMoreData;
    }

    private static ScanResult Invalid(string message, out string error)
    {
        error = message;
        return ScanResult.InvalidData;
    }
}
