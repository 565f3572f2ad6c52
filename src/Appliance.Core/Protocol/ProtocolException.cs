namespace Appliance.Core.Protocol;

/// <summary>A payload that does not follow docs/protocol.md. On the server it becomes a
/// <see cref="ErrorCode.BadRequest"/> reply; on the client it fails that request.</summary>
internal sealed class ProtocolException(string message) : Exception(message);
