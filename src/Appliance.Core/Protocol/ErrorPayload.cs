namespace Appliance.Core.Protocol;

/// <summary>Payload of an error reply: <c>u16 code | u16 length | UTF-8 message</c>
/// (written by <see cref="FrameBuffer.WriteError"/>).</summary>
internal static class ErrorPayload
{
    public static (ErrorCode Code, string Message) Read(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var code = (ErrorCode)reader.ReadUInt16("error code");
        return (code, reader.ReadShortString("error message"));
    }
}
