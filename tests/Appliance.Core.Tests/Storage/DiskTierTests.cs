using System.Buffers.Binary;
using Appliance.Core.Native;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// Values read from the device (<c>--values disk</c>): every answer equals the in-memory store's,
/// through patches, both read engines, with and without the row cache, for raw rows longer than a
/// read window; a read error or a short read fails exactly its keys, never a wrong value or
/// "missing"; a values file truncated under the server fails the keys past the cut; a patch on
/// the same base keeps the cached rows of the base.
/// </summary>
public sealed class DiskTierTests
{
    private static (TempDirectory Dir, string Out, Dictionary<ulong, byte[]> Expected) Table(ValueCodec codec, int keys, Func<Random, int>? rawLength = null)
    {
        var dir = new TempDirectory();
        var random = new Random(5);
        var expected = new Dictionary<ulong, byte[]>();
        byte[] Row()
        {
            if (codec == ValueCodec.F32)
            {
                var row = new byte[16 * 4];
                for (var i = 0; i < 16; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(i * 4), (float)random.NextDouble());
                }

                return row;
            }

            var raw = new byte[rawLength?.Invoke(random) ?? random.Next(0, 90)];
            random.NextBytes(raw);
            return raw;
        }

        var rows = Enumerable.Range(0, keys).Select(_ => (Key: (ulong)random.NextInt64(), Value: Row())).DistinctBy(r => r.Key).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "1", "a"), rows);
        TestTables.Build(dir.Combine("in", "1"), dir.Combine("out"), "1", shards: 2, codec: codec);
        rows.ForEach(r => expected[r.Key] = r.Value);
        for (var p = 2; p <= 3; p++)
        {
            // Patches: a fifth of the keys changed, a few new ones.
            var patch = expected.Keys.Where(_ => random.Next(5) == 0).Concat(Enumerable.Range(0, 30).Select(_ => (ulong)random.NextInt64())).Distinct().Select(k => (Key: k, Value: Row())).ToList();
            var id = p.ToString(System.Globalization.CultureInfo.InvariantCulture);
            TestTables.WriteSequenceFile(dir.Combine("in", id, "a"), patch);
            TestTables.Build(dir.Combine("in", id), dir.Combine("out"), id, shards: 2, baseId: "1", codec: codec);
            patch.ForEach(r => expected[r.Key] = r.Value);
        }

        return (dir, dir.Combine("out"), expected);
    }

    private static ulong[] Absent(int n) => [.. Enumerable.Range(0, n).Select(i => (ulong)i * 7919)];

    [Theory]
    [InlineData("uring", "f32", 1 << 20)]
    [InlineData("uring", "raw", 1 << 20)]
    [InlineData("uring", "f32", 0)]
    [InlineData("pread", "f32", 16 << 10)]
    [InlineData("pread", "raw", 0)]
    public void EveryKeyAnswersAsInMemoryThroughBaseAndPatches(string readEngine, string valueCodec, int cacheBytes)
    {
        var engine = readEngine == "uring" ? ReadEngine.Uring : ReadEngine.Pread;
        var codec = valueCodec == "f32" ? ValueCodec.F32 : ValueCodec.Raw;
        var (dir, output, expected) = Table(codec, 3000);
        using (dir)
        {
            var stores = TestTables.OpenAll(output, disk: new DiskTierOptions { CacheBytes = cacheBytes, Engine = engine, PreadThreads = 4 });
            try
            {
                Assert.All(stores, s => Assert.NotNull(s.Tier));
                TestTables.AssertMatches(stores, expected, Absent(200));
                TestTables.AssertMatches(stores, expected, Absent(200)); // again: from the cache where there is one
                var tier = stores[0].Tier!;
                Assert.Equal(0, tier.FailedKeys);
                Assert.True(tier.DeviceReads <= tier.Keys, $"{tier.DeviceReads} reads for {tier.Keys} keys: more than one read per key");
                Assert.Equal(cacheBytes > 0, tier.CacheHits > 0);
            }
            finally
            {
                TestTables.DisposeAll(stores);
            }
        }
    }

    [Fact]
    public void RawRowsLongerThanAReadWindowAreReadWhole()
    {
        var (dir, output, expected) = Table(ValueCodec.Raw, 300, r => r.Next(200, 9000));
        using (dir)
        {
            var stores = TestTables.OpenAll(output, disk: new DiskTierOptions { CacheBytes = 0 });
            try
            {
                TestTables.AssertMatches(stores, expected, Absent(50));
                Assert.Equal(0, stores[0].Tier!.FailedKeys);
            }
            finally
            {
                TestTables.DisposeAll(stores);
            }
        }
    }

    /// <summary>The device fails every third read (EIO) or returns it short: exactly those keys
    /// fail, the others answer their values, nothing is reported missing.</summary>
    [Theory]
    [InlineData(-5)]
    [InlineData(10)]
    public void AReadErrorOrAShortReadFailsItsKeyAndNothingElse(int result)
    {
        var (dir, output, expected) = Table(ValueCodec.F32, 2000);
        using (dir)
        {
            var faulty = new FaultyReaders(result);
            using var store = new ShardStore(inMemory: false, new DiskTier(new DiskTierOptions { CacheBytes = 0 }, faulty));
            store.LoadBase(Path.Combine(output, "1_1", "test_part0"));
            using var lease = store.Acquire();
            using var arena = new ValueArena();
            var present = ReadKeys(Path.Combine(output, "1_1", "test_part0"));
            var results = new ValueRef[present.Length];
            var failed = lease.View!.Lookup(present, results, arena);
            Assert.Equal(faulty.Failed, failed);
            Assert.True(failed > 0);
            Assert.Equal(failed, store.Tier!.FailedKeys);
            for (var i = 0; i < present.Length; i++)
            {
                Assert.False(!results[i].Found && !results[i].IsFailed, $"key {present[i]} reported missing");
            }
        }
    }

    [Fact]
    public void AValuesFileTruncatedUnderTheServerFailsTheKeysPastTheCut()
    {
        var (dir, output, expected) = Table(ValueCodec.F32, 3000);
        using (dir)
        {
            var package = Path.Combine(output, "1_1", "test_part0");
            var keys = ReadKeys(package);
            using var store = new ShardStore(inMemory: false, new DiskTier(new DiskTierOptions { CacheBytes = 0 }));
            store.LoadBase(package);
            var values = Path.Combine(package, ShardLayout.ValuesFileName);
            var cut = new FileInfo(values).Length / 2;
            using (var f = new FileStream(values, FileMode.Open, FileAccess.Write))
            {
                f.SetLength(cut); // in place: the server's descriptor sees it
            }

            using var lease = store.Acquire();
            using var arena = new ValueArena();
            var results = new ValueRef[keys.Length];
            var failed = lease.View!.Lookup(keys, results, arena);
            Assert.True(failed > 0, "no key failed past the cut");
            var found = 0;
            for (var i = 0; i < keys.Length; i++)
            {
                Assert.False(!results[i].Found && !results[i].IsFailed, $"key {keys[i]} reported missing");
                found += results[i].Found ? 1 : 0;
            }

            Assert.True(found > 0, "no key before the cut was answered");
            Assert.Equal(keys.Length, found + failed);
        }
    }

    /// <summary>A patch stacked on the live base brings only its own rows: the base's rows cached
    /// before it are still answered from the cache (tags are per package), without a read.</summary>
    [Fact]
    public void APatchOnTheSameBaseKeepsTheCachedRowsOfTheBase()
    {
        var (dir, output, _) = Table(ValueCodec.F32, 2000);
        using (dir)
        {
            using var store = new ShardStore(inMemory: false, new DiskTier(new DiskTierOptions { CacheBytes = 4 << 20 }));
            store.LoadBase(Path.Combine(output, "1_1", "test_part0"));
            var patched = new HashSet<ulong>(ReadKeys(Path.Combine(output, "1_2", "test_part0")));
            var keys = ReadKeys(Path.Combine(output, "1_1", "test_part0")).Where(k => !patched.Contains(k)).ToArray();
            Lookup(store, keys); // reads each row, admits it (an empty set admits)
            Lookup(store, keys);
            store.ApplyDelta(Path.Combine(output, "1_2", "test_part0"));
            var tier = store.Tier!;
            var (reads, hits) = (tier.DeviceReads, tier.CacheHits);
            Lookup(store, keys);
            Assert.Equal(reads, tier.DeviceReads);
            Assert.Equal(hits + keys.Length, tier.CacheHits);
        }
    }

    /// <summary>A merge (or a fold) replaces the packages the cached rows came from: the rows move
    /// to the merged layer or folded base without a device read, and every answer stays right.
    /// Only the last patch's rows, never read before, are read from the device afterwards.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void AMergeOrAFoldCarriesTheCachedRowsOver(int foldAt)
    {
        var (dir, output, expected) = Table(ValueCodec.F32, 3000);
        using (dir)
        {
            using var store = new ShardStore(inMemory: false, new DiskTier(new DiskTierOptions { CacheBytes = 8 << 20 })) { MaxUnmerged = 1, FoldAt = foldAt };
            store.LoadBase(Path.Combine(output, "1_1", "test_part0"), [Path.Combine(output, "1_2", "test_part0")]);
            var keys = expected.Keys.Where(k => k % 2 == 0).ToArray();
            var cached = store.Live!.Layers.Select(l => ReadKeys(l.Directory)).SelectMany(k => k).ToHashSet();
            var before = keys.Where(cached.Contains).ToArray();
            Lookup(store, before);
            Lookup(store, before);
            store.ApplyDelta(Path.Combine(output, "1_3", "test_part0")); // two patch layers: a merge starts
            var layers = foldAt > 0 ? 1 : 2; // a fold leaves the base alone; a merge, the base and the merged layer
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (store.Live!.Layers.Count != layers && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20); // the merge is counted before it switches in: wait for the switch
            }

            Assert.Equal(layers, store.Live!.Layers.Count);
            var tier = store.Tier!;
            Assert.True(tier.Carried > 0, "no cached row was carried over");
            var reads = tier.DeviceReads;
            var patch3 = ReadKeys(Path.Combine(output, "1_3", "test_part0")).ToHashSet();
            TestTables.AssertMatches([store, store], expected.Where(e => e.Key % 2 == 0).ToDictionary(), []);
            var unchanged = before.Count(k => !patch3.Contains(k));
            Assert.True(tier.DeviceReads - reads <= keys.Length - unchanged + (unchanged / 20), $"{tier.DeviceReads - reads} reads for {keys.Length} keys of which {unchanged} were cached and unchanged");
        }
    }

    private static void Lookup(ShardStore store, ulong[] keys)
    {
        using var lease = store.Acquire();
        using var arena = new ValueArena();
        var results = new ValueRef[keys.Length];
        Assert.Equal(0, lease.View!.Lookup(keys, results, arena));
        Assert.All(results, r => Assert.True(r.Found));
    }

    private static ulong[] ReadKeys(string package)
    {
        var shard = MappedShard.Open(package, inMemory: false);
        try
        {
            var keys = new List<ulong>();
            var records = shard.Records();
            while (records.Next(out var key, out _))
            {
                keys.Add(key);
            }

            return [.. keys];
        }
        finally
        {
            shard.Release();
        }
    }

    /// <summary>Real reads, every third one then failed with <c>result</c> (−errno), or cut to
    /// <c>result</c> bytes.</summary>
    private sealed class FaultyReaders(int result) : BlockReaders
    {
        private readonly BlockReaders _real = Create(ReadEngine.Pread, 2, out _);
        private int _count;

        public int Failed { get; private set; }

        public override ReadEngine Engine => ReadEngine.Pread;

        public override void ReadAll(ReadOnlySpan<BlockRead> requests, Span<int> results)
        {
            _real.ReadAll(requests, results);
            for (var i = 0; i < results.Length; i++)
            {
                if (_count++ % 3 == 0)
                {
                    results[i] = result < 0 ? result : Math.Min(result, results[i]);
                    Failed++;
                }
            }
        }

        public override void Dispose() => _real.Dispose();
    }
}
