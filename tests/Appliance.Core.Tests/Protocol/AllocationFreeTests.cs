using Appliance.Core.Protocol;
using Appliance.Core.Serving;
using Appliance.Core.Storage;
using Appliance.Core.Tests.Storage;

namespace Appliance.Core.Tests.Protocol;

/// <summary>
/// The per-request paths allocate nothing once warm: every allocation on them is a share of a
/// gen-0 collection, which pauses every request in flight (the 56 bytes a field name concatenated
/// per request cost both the server and the load generator a collection every few hundred ms).
/// Counted with the thread's own allocation counter, so other tests running in parallel do not
/// disturb it.
/// </summary>
public sealed class AllocationFreeTests
{
    private const int Batch = 100;

    /// <summary>Bytes allocated per call, rounded down, in the least of three windows of
    /// <paramref name="times"/> calls: a path that allocates anything per request shows at least
    /// its smallest object (24 bytes) in every window, while a one-off allocation the runtime makes
    /// on this thread meanwhile (under a loaded full run, once in a few runs: a few hundred bytes,
    /// once 7 KB, in 1000 calls) lands in one window only and does not fail the test.</summary>
    private static long AllocatedBy(int times, Action action)
    {
        action(); // warm: first-call statics, thread-static caches, buffer growth
        var least = long.MaxValue;
        for (var window = 0; window < 3; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < times; i++)
            {
                action();
            }

            least = Math.Min(least, (GC.GetAllocatedBytesForCurrentThread() - before) / times);
        }

        return least;
    }

    [Fact]
    public void TheLookupRequestCodecDoesNotAllocate()
    {
        var keys = Enumerable.Range(0, Batch).Select(i => (ulong)i * 7919).ToArray();
        var request = new FrameBuffer();
        LookupCodec.WriteRequest(request, 1, "emb", keys);
        var payload = request.WrittenSpan[FrameHeader.Size..].ToArray();
        var parsed = new ulong[Batch];
        Assert.Equal(0, AllocatedBy(1000, () =>
        {
            request.Clear();
            LookupCodec.WriteRequest(request, 1, "emb", keys);
            LookupCodec.ReadRequest(payload, out _, parsed);
        }));
    }

    [Fact]
    public void TheServersRequestPathAndTheReplyParserDoNotAllocate()
    {
        using var dir = new TempDirectory();
        var rows = Enumerable.Range(0, 5000).Select(i => ((ulong)i, BitConverter.GetBytes((float)i).Concat(new byte[36]).ToArray())).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "part-00000"), rows);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "7", shards: 1);
        var stores = TestTables.OpenAll(dir.Combine("out"), inMemory: false);
        try
        {
            var service = new ShardService("test", 0, stores[0]);
            var request = new FrameBuffer();
            LookupCodec.WriteRequest(request, 9, "test", [.. Enumerable.Range(0, Batch).Select(i => (ulong)(i * 41))]);
            var payload = request.WrittenSpan[FrameHeader.Size..].ToArray();
            var output = new FrameBuffer(1 << 16);
            var header = new FrameHeader(Opcode.Lookup, FrameFlags.None, 9, payload.Length);
            Assert.Equal(0, AllocatedBy(1000, () =>
            {
                output.Clear();
                service.Handle(header, payload, output);
            }));
            Assert.Equal(3001L * Batch, service.Stats.Keys); // one warm-up call and three windows of 1000
            Assert.Equal(0, service.Stats.Errors);

            var reply = output.WrittenSpan[FrameHeader.Size..].ToArray();
            var slices = new (int Offset, int Length)[Batch];
            Assert.Equal(0, AllocatedBy(1000, () => LookupCodec.ReadResponse(reply, slices)));
            Assert.Equal(Batch, slices.Count(v => v.Length == 40));
        }
        finally
        {
            TestTables.DisposeAll(stores);
        }
    }
}
