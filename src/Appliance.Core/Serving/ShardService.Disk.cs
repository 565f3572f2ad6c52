using Appliance.Core.Protocol;

namespace Appliance.Core.Serving;

/// <summary>
/// A disk tier's lookups wait for the device (a few hundred µs per round of reads). Done where the
/// connection reads, they would hold its socket thread, and every connection behind it, for that
/// time: so on a disk-tier shard a lookup frame is handed to the thread pool, the connection goes
/// on reading its next (pipelined) requests, and the reply is sent when its reads are done
/// (request ids match replies, which may overtake each other). Many requests' reads are then in
/// flight together, up to --disk-concurrency waiting at once. Values in memory stay inline.
/// </summary>
internal sealed partial class ShardService : IAsyncFrameHandler
{
    public bool IsAsync(Opcode opcode) => opcode == Opcode.Lookup && Store.Tier is not null;

    public Task HandleAsync(FrameHeader header, ReadOnlyMemory<byte> payload, FrameBuffer output) =>
        Task.Run(() => Handle(header, payload.Span, output));
}
