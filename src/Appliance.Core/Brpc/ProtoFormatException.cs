namespace Appliance.Core.Brpc;

/// <summary>A protobuf message that does not parse; the message names the offset at fault.</summary>
internal sealed class ProtoFormatException(string message) : Exception(message);
