namespace Appliance.Core.Protocol;

/// <summary>Header flag bits (docs/protocol.md).</summary>
[Flags]
internal enum FrameFlags : ushort
{
    None = 0,

    /// <summary>Set on every frame a server sends.</summary>
    Response = 1,

    /// <summary>With <see cref="Response"/>: the payload is an error (code + message), not the opcode's answer.</summary>
    Error = 2,
}
