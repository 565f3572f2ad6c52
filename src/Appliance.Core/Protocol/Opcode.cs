namespace Appliance.Core.Protocol;

/// <summary>Wire opcodes (docs/protocol.md). The numbers are the protocol: never renumber.</summary>
internal enum Opcode : byte
{
    Ping = 1,
    Lookup = 2,
    Status = 3,
    Predict = 4,
}
