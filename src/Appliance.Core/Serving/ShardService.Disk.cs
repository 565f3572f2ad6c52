using Appliance.Core.Protocol;

namespace Appliance.Core.Serving;

/// <summary>
/// A disk tier's lookups wait for the device (a few hundred µs per round of reads). Done where the
/// connection reads, they would hold its socket thread, and every connection behind it, for that
/// time: so on a disk-tier shard a lookup frame is handed to the thread pool, the connection goes
/// on reading its next (pipelined) requests, and the reply is sent when its reads are done
/// (request ids match replies, which may overtake each other). Many requests' reads are then in
/// flight together, up to --disk-concurrency waiting at once. Values in memory stay inline, and so
/// does a lookup whose keys the row cache holds (or the index says are absent): it is tried first
/// where the connection reads, and handed over at its first key that needs the device.
/// </summary>
internal sealed partial class ShardService : IAsyncFrameHandler
{
    public bool IsAsync(Opcode opcode) => opcode == Opcode.Lookup && Store.Tier is not null;

    public Task HandleAsync(FrameHeader header, ReadOnlyMemory<byte> payload, FrameBuffer output) =>
        Task.Run(() => Handle(header, payload.Span, output));

    public bool TryHandleNow(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output)
    {
        var started = LatencyHistograms ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        var scratch = t_scratch ??= new Scratch();
        int count;
        ReadOnlySpan<byte> dict;
        try
        {
            scratch.Ensure(Math.Min(LookupCodec.PeekKeyCount(payload), MaxKeysPerRequest));
            count = LookupCodec.ReadRequest(payload, out dict, scratch.Keys);
        }
        catch (ProtocolException)
        {
            return false; // the full path answers it, with the error counted
        }

        if (!dict.SequenceEqual(_dictUtf8))
        {
            return false;
        }

        var keys = scratch.Keys.AsSpan(0, count);
        var results = scratch.Results.AsSpan(0, count);
        using var lease = Store.Acquire();
        if (lease.View is not { } view || !view.TryLookupCached(keys, results, scratch.Arena))
        {
            return false;
        }

        Stats.Request();
        var misses = 0;
        foreach (var r in results)
        {
            misses += r.Found ? 0 : 1;
        }

        Stats.Lookup(keys.Length, misses);
        LookupCodec.WriteResponse(output, header.RequestId, LabelOf(view), view.Codec, results);
        if (LatencyHistograms)
        {
            _lookupLatency.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }

        return true;
    }
}
