namespace Appliance.Core.Protocol;

/// <summary>
/// A handler some of whose opcodes finish later (the CTR engine's predict waits for a network run).
/// For those, the connection hands over a copy of the payload and goes on reading; the reply is
/// sent when the task completes, so replies may overtake each other (the request id matches them).
/// </summary>
internal interface IAsyncFrameHandler : IFrameHandler
{
    bool IsAsync(Opcode opcode);

    /// <summary>An opcode <see cref="IsAsync"/> said finishes later may still be answerable at
    /// once (a disk tier's lookup whose keys are all in its cache): true when the reply was
    /// written into <paramref name="output"/> here; false, with nothing written and nothing
    /// counted, to hand it to <see cref="HandleAsync"/>.</summary>
    bool TryHandleNow(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output) => false;

    /// <summary>Writes exactly one reply frame into <paramref name="output"/>.</summary>
    Task HandleAsync(FrameHeader header, ReadOnlyMemory<byte> payload, FrameBuffer output);
}
