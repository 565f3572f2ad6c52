using Appliance.Core.Native;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// While a thread takes page faults, lookups start every key's pages reading ahead (a table larger
/// than memory); the answers must be exactly those of the ordinary path. Faults are made here by
/// touching fresh memory before each batch, which switches the mode on for the lookups after it.
/// </summary>
public sealed unsafe class FaultingLookupTests
{
    [Fact]
    public void ThreadFaultsSeesFreshMemoryBeingTouched()
    {
        var before = ThreadFaults.Count();
        const int Pages = 64;
        TouchFreshPages(Pages);
        Assert.True(ThreadFaults.Count() - before >= Pages, $"{ThreadFaults.Count() - before} faults");
    }

    /// <summary>Maps anonymous memory straight from the kernel (malloc might hand back pages
    /// already touched), touches every page once, unmaps it.</summary>
    private static void TouchFreshPages(int pages)
    {
        var length = (nuint)(pages * 4096);
        var memory = LibC.mmap(0, length, LibC.ProtRead | LibC.ProtWrite, LibC.MapPrivate | LibC.MapAnonymous, -1, 0);
        Assert.NotEqual(LibC.MapFailed, memory);
        for (var p = 0; p < pages; p++)
        {
            ((byte*)memory)[p * 4096] = 1;
        }

        Assert.Equal(0, LibC.munmap(memory, length));
    }

    [Fact]
    public void LookupsWhileFaultingAnswerAsTheOrdinaryPathDoes()
    {
        using var dir = new TempDirectory();
        var random = new Random(11);
        var expected = new Dictionary<ulong, byte[]>();
        while (expected.Count < 20_000)
        {
            var value = new byte[12 + random.Next(60)];
            random.NextBytes(value);
            expected[(ulong)random.NextInt64()] = value;
        }

        TestTables.WriteSequenceFile(dir.Combine("in", "part-00000"), expected.Select(kv => (kv.Key, kv.Value)));
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1", shards: 1);
        var stores = TestTables.OpenAll(dir.Combine("out"), inMemory: false);
        try
        {
            var present = expected.Keys.ToArray();
            var keys = new ulong[100];
            var results = new ValueRef[100];
            var faultingBatches = 0;
            for (var batch = 0; batch < 300; batch++)
            {
                for (var i = 0; i < keys.Length; i++)
                {
                    keys[i] = i % 5 == 4 ? (ulong)random.NextInt64() : present[random.Next(present.Length)];
                }

                // Fresh memory touched: this thread's fault count moves, the next windows read ahead.
                TouchFreshPages(64); // 64 faults before a batch of 2 chunks: well over the read-ahead threshold
                faultingBatches += ThreadFaults.PerCall() > 0 ? 1 : 0;
                using var lease = stores[0].Acquire();
                lease.View!.Lookup(keys, results);
                for (var i = 0; i < keys.Length; i++)
                {
                    if (expected.TryGetValue(keys[i], out var value))
                    {
                        Assert.True(results[i].Found && results[i].Span.SequenceEqual(value), $"key {keys[i]}");
                    }
                    else
                    {
                        Assert.False(results[i].Found, $"key {keys[i]} is absent");
                    }
                }
            }

            Assert.True(faultingBatches > 0, "the read-ahead mode never switched on");
        }
        finally
        {
            TestTables.DisposeAll(stores);
        }
    }
}
