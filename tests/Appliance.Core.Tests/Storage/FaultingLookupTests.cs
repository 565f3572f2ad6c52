using Appliance.Core.Native;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// While a thread's lookups take page faults, they start every key's pages reading ahead (a table
/// larger than memory); the answers must be exactly those of the ordinary path. The mode is switched
/// on here as a faulting lookup would: a sampled call (<see cref="ThreadFaults.Begin"/> …
/// <see cref="ThreadFaults.End"/>) that touches fresh memory, before each batch. Faults the thread
/// takes between lookups must not switch the mode on: an engine's
/// thread touches fresh memory in every ONNX Runtime run, and reading ahead a resident table only
/// costs it two madvise calls per key.
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
        var expected = BuildTable(dir, random);
        var present = expected.Keys.ToArray();
        var stores = TestTables.OpenAll(dir.Combine("out"), inMemory: false);
        try
        {
            var keys = new ulong[64]; // one chunk: the mode is on for it
            var results = new ValueRef[keys.Length];
            for (var batch = 0; batch < 200; batch++)
            {
                for (var i = 0; i < keys.Length; i++)
                {
                    keys[i] = i % 5 == 4 ? (ulong)random.NextInt64() : present[random.Next(present.Length)];
                }

                SwitchReadAheadOn();
                Assert.True(ThreadFaults.PerCall >= LayeredLookup.ReadAheadFaultsPerChunk, $"{ThreadFaults.PerCall} faults in the sampled calls");
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
        }
        finally
        {
            TestTables.DisposeAll(stores);
        }
    }

    [Fact]
    public void OnlyFaultsInsideASampledCallCount()
    {
        SwitchReadAheadOn();
        Assert.True(ThreadFaults.PerCall >= LayeredLookup.ReadAheadFaultsPerChunk, $"{ThreadFaults.PerCall} faults");
        for (var call = 0; call < ThreadFaults.Window * 40; call++) // 40 samples: the average decays to 0
        {
            TouchFreshPages(64); // between calls
            ThreadFaults.End(ThreadFaults.Begin());
        }

        Assert.Equal(0, ThreadFaults.PerCall);
    }

    /// <summary>Sampled calls that touch fresh pages until the average says the thread faults (at
    /// most 50): one was not always enough — a full CI run once saw the average at 3 after one
    /// (the lookups' own sampled calls, with few faults, weigh it down; the count of one call's
    /// faults moves under load).</summary>
    private static void SwitchReadAheadOn()
    {
        for (var attempt = 0; attempt < 50 && ThreadFaults.PerCall < LayeredLookup.ReadAheadFaultsPerChunk; attempt++)
        {
            SampledCallTakingFaults();
        }
    }

    /// <summary>Calls until one is sampled, and makes that one touch 64 fresh pages.</summary>
    private static void SampledCallTakingFaults()
    {
        long begun;
        while ((begun = ThreadFaults.Begin()) < 0)
        {
        }

        TouchFreshPages(64);
        ThreadFaults.End(begun);
    }

    [Fact]
    public void FaultsBetweenLookupsDoNotSwitchReadAheadOn()
    {
        using var dir = new TempDirectory();
        var random = new Random(12);
        var present = BuildTable(dir, random).Keys.ToArray();
        var stores = TestTables.OpenAll(dir.Combine("out"), inMemory: true);
        try
        {
            var keys = new ulong[64]; // one chunk
            var results = new ValueRef[keys.Length];
            var faulting = 0;
            var batches = ThreadFaults.Window * 40; // 40 samples
            for (var batch = 0; batch < batches; batch++)
            {
                for (var i = 0; i < keys.Length; i++)
                {
                    keys[i] = present[random.Next(present.Length)];
                }

                TouchFreshPages(64); // the thread's other work: 64 faults before every batch
                using var lease = stores[0].Acquire();
                lease.View!.Lookup(keys, results);
                // In the second half (20 samples in): the average is this test's own lookups',
                // whatever an earlier test left in this thread's measure.
                faulting += batch >= batches / 2 && ThreadFaults.PerCall >= LayeredLookup.ReadAheadFaultsPerChunk ? 1 : 0;
            }

            Assert.Equal(0, faulting);
        }
        finally
        {
            TestTables.DisposeAll(stores);
        }
    }

    private static Dictionary<ulong, byte[]> BuildTable(TempDirectory dir, Random random)
    {
        var expected = new Dictionary<ulong, byte[]>();
        while (expected.Count < 20_000)
        {
            var value = new byte[12 + random.Next(60)];
            random.NextBytes(value);
            expected[(ulong)random.NextInt64()] = value;
        }

        TestTables.WriteSequenceFile(dir.Combine("in", "part-00000"), expected.Select(kv => (kv.Key, kv.Value)));
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1", shards: 1);
        return expected;
    }
}
