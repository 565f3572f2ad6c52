namespace Appliance.Core.Protocol;

/// <summary>
/// The seam between framing and logic: the session (<see cref="FrameSession"/>) hands over each complete request
/// frame; the handler writes exactly one reply frame into <paramref name="output"/>. Handlers never
/// see sockets; the transport never reads opcodes.
/// </summary>
internal interface IFrameHandler
{
    void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output);
}
