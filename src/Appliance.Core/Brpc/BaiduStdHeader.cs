using System.Buffers.Binary;

namespace Appliance.Core.Brpc;

/// <summary>
/// The 12-byte header in front of every baidu_std packet, big-endian (network order):
/// <code>
/// offset size field
///  0      4   magic "PRPC" (50 52 50 43)
///  4      4   body size: the bytes after this header (meta + payload + attachment)
///  8      4   meta size: the first bytes of the body, a serialised brpc.policy.RpcMeta
/// 12      …   RpcMeta | payload (the method's protobuf message) | attachment (attachment_size bytes)
/// </code>
/// Requests and replies share the layout; the meta says which it is (request or response).
/// </summary>
internal readonly record struct BaiduStdHeader(int BodySize, int MetaSize)
{
    public const int Size = 12;

    public static ReadOnlySpan<byte> Magic => "PRPC"u8;

    public int PacketSize => Size + BodySize;

    /// <summary>Reads a header from the front of <paramref name="data"/>: false with
    /// <paramref name="error"/> null when fewer than 12 bytes are there; an error when they are
    /// not a baidu_std header, or the sizes do not fit (<paramref name="maxBody"/>, meta inside
    /// the body). The sizes are checked before any byte of the body is awaited.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, int maxBody, out BaiduStdHeader header, out string? error)
    {
        header = default;
        error = null;
        if (data.Length < Size)
        {
            return false;
        }

        if (!data[..4].SequenceEqual(Magic))
        {
            error = $"offset 0: magic {Convert.ToHexString(data[..4])} is not PRPC (50525043)";
            return false;
        }

        var body = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        var meta = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
        if (body > (uint)maxBody)
        {
            error = $"offset 4: body size {body} is over the limit of {maxBody} bytes (--max-frame-mb)";
            return false;
        }

        if (meta > body)
        {
            error = $"offset 8: meta size {meta} is larger than the body ({body} bytes)";
            return false;
        }

        header = new BaiduStdHeader((int)body, (int)meta);
        return true;
    }

    public void Write(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)BodySize);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)MetaSize);
    }
}
