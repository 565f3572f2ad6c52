using Appliance.Core.Protocol;

namespace Appliance.Core.Net;

/// <summary>
/// The seam between transport and logic: the connection loop hands over each complete request
/// frame; the handler writes exactly one reply frame into <paramref name="output"/>. Handlers never
/// see sockets; the transport never reads opcodes.
/// </summary>
public interface IFrameHandler
{
    void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output);
}
