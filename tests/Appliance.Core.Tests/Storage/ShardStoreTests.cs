using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

public sealed class ShardStoreTests
{
    private static (TempDirectory Dir, string Base, string Delta) BuildBaseAndDelta()
    {
        var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("b", "a"), Enumerable.Range(0, 1000).Select(i => ((ulong)i, new byte[] { 1, (byte)i })));
        TestTables.WriteSequenceFile(dir.Combine("d", "a"), Enumerable.Range(500, 1000).Select(i => ((ulong)i, new byte[] { 2, (byte)i })));
        TestTables.Build(dir.Combine("b"), dir.Combine("out"), "100", shards: 1);
        TestTables.Build(dir.Combine("d"), dir.Combine("out"), "101", shards: 1, baseId: "100");
        return (dir, dir.Combine("out", "100_100", "test_part0"), dir.Combine("out", "100_101", "test_part0"));
    }

    private static byte? FirstByte(ShardStore store, ulong key)
    {
        using var lease = store.Acquire();
        var r = new ValueRef[1];
        lease.View!.Lookup([key], r);
        return r[0].Found ? r[0].Span[0] : null;
    }

    [Fact]
    public void DeltaLayersWinAndBaseFillsTheRest()
    {
        var (dir, basePath, delta) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: false))
        {
            store.LoadBase(basePath);
            Assert.Equal("100", store.Live!.VersionLabel);
            Assert.Equal((byte)1, FirstByte(store, 700));
            store.ApplyDelta(delta);
            Assert.Equal("100_101", store.Live!.VersionLabel);
            Assert.Equal((byte)1, FirstByte(store, 10));
            Assert.Equal((byte)2, FirstByte(store, 700));
            Assert.Equal((byte)2, FirstByte(store, 1400));
            Assert.Null(FirstByte(store, 1500));
        }
    }

    [Theory]
    [InlineData("values.bin", 200)]
    [InlineData("index.bin", 70)]
    [InlineData("values.bin", 0)]
    public void OneFlippedByteIsRefusedAndTheLiveVersionKeepsServing(string file, int offset)
    {
        var (dir, basePath, delta) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: true))
        {
            store.LoadBase(basePath);
            var path = Path.Combine(delta, file);
            var bytes = File.ReadAllBytes(path);
            bytes[offset] ^= 0x01;
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InputFormatException>(() => store.ApplyDelta(delta));
            Assert.StartsWith($"{path}: whole file: checksum mismatch", e.Message);
            Assert.Equal("100", store.Live!.VersionLabel);
            Assert.Equal((byte)1, FirstByte(store, 700));
        }
    }

    /// <summary>A package is hashed once, not on every load (cold start independent of its size);
    /// a stamp is trusted only while each file's device, inode, size, mtime and ctime are those it
    /// recorded, and never for files changed in the last seconds (coarse file times).</summary>
    [Fact]
    public void APackageIsHashedOnceAndAgainWhenItsFilesChange()
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        {
            var stamp = Path.Combine(basePath, VerifiedStamp.FileName);
            MappedShard.Open(basePath, inMemory: false).Release();
            Assert.False(File.Exists(stamp)); // just written: not stamped yet

            Settle();
            MappedShard.Open(basePath, inMemory: false).Release();
            Assert.True(File.Exists(stamp));
            Assert.Contains("values.bin ", File.ReadAllText(stamp), StringComparison.Ordinal);
            MappedShard.Open(basePath, inMemory: true).Release(); // the stamp holds: no hashing

            // A byte flipped by a rewrite: the file's times change, it is hashed again and refused.
            var values = Path.Combine(basePath, "values.bin");
            var bytes = File.ReadAllBytes(values);
            bytes[100] ^= 0x01;
            File.WriteAllBytes(values, bytes);
            var e = Assert.Throws<InputFormatException>(() => MappedShard.Open(basePath, inMemory: false));
            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);

            // Deleting the stamp forces the hash (the documented way to re-check a package in place).
            File.Delete(stamp);
            e = Assert.Throws<InputFormatException>(() => MappedShard.Open(basePath, inMemory: false));
            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A bit flipped in place with the file's mtime put back (<c>touch -r</c>) used to pass
    /// as verified: the stamp held only lengths and mtimes. The kernel moves ctime on any change,
    /// and user space cannot set it back.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AFlippedBitWithItsMtimeRestoredIsHashedAndRefused(bool inMemory)
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        {
            Settle();
            MappedShard.Open(basePath, inMemory: false).Release();
            Assert.True(File.Exists(Path.Combine(basePath, VerifiedStamp.FileName)));

            var values = Path.Combine(basePath, "values.bin");
            var mtime = File.GetLastWriteTimeUtc(values);
            using (var file = new FileStream(values, FileMode.Open, FileAccess.ReadWrite))
            {
                file.Position = 100;
                var b = file.ReadByte();
                file.Position = 100;
                file.WriteByte((byte)(b ^ 0x01));
            }

            File.SetLastWriteTimeUtc(values, mtime); // touch -r
            Assert.Equal(mtime, File.GetLastWriteTimeUtc(values));
            var e = Assert.Throws<InputFormatException>(() => MappedShard.Open(basePath, inMemory));
            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A copy keeps mtimes (<c>cp -a</c>) and, on ext4, reports its birth time as its
    /// mtime, so the old stamp took a copied package for the one it had hashed. A copy is a new
    /// inode: hashed again.</summary>
    [Fact]
    public void ACopiedPackageIsHashedAgain()
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        {
            Settle();
            MappedShard.Open(basePath, inMemory: false).Release();
            var copy = dir.Combine("copy");
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(basePath))
            {
                var target = Path.Combine(copy, Path.GetFileName(file));
                File.Copy(file, target);
                File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(file));
            }

            // The copy's values differ in one byte, its mtime is the original's, its stamp copied.
            var values = Path.Combine(copy, "values.bin");
            var mtime = File.GetLastWriteTimeUtc(values);
            var bytes = File.ReadAllBytes(values);
            bytes[100] ^= 0x01;
            File.WriteAllBytes(values, bytes);
            File.SetLastWriteTimeUtc(values, mtime);
            var e = Assert.Throws<InputFormatException>(() => MappedShard.Open(copy, inMemory: false));
            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>Bytes changed beneath the file system (a disk's flipped bit) keep the file's
    /// identity, so the stamp cannot see them; <c>cube package verify</c> (trustStamp: false)
    /// hashes everything every time and does.</summary>
    [Fact]
    public void VerifyNeverTrustsTheStamp()
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        {
            var values = Path.Combine(basePath, "values.bin");
            var bytes = File.ReadAllBytes(values);
            bytes[100] ^= 0x01;
            File.WriteAllBytes(values, bytes);
            Settle();
            // A stamp that matches the tampered files: what a flip under an unchanged inode looks like.
            VerifiedStamp.TryWrite(basePath, MappedShard.ReadManifest(basePath));
            Assert.True(VerifiedStamp.Matches(basePath, MappedShard.ReadManifest(basePath)));
            var e = Assert.Throws<InputFormatException>(() => MappedShard.Open(basePath, inMemory: false, trustStamp: false));
            Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>Files changed within the last 2 s are never stamped (coarse file times).</summary>
    private static void Settle() => Thread.Sleep(2100);

    [Fact]
    public void ATruncatedCopyIsRefusedBeforeMapping()
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: true))
        {
            var path = Path.Combine(basePath, "values.bin");
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^8]);
            var e = Assert.Throws<InputFormatException>(() => store.LoadBase(basePath));
            Assert.Contains($"{path}: offset {bytes.Length - 8}: file is {bytes.Length - 8} bytes; the manifest says {bytes.Length}", e.Message);
            Assert.Null(store.Live);
        }
    }

    [Fact]
    public void ACorruptManifestIsNamed()
    {
        var (dir, basePath, _) = BuildBaseAndDelta();
        using (dir)
        {
            var path = Path.Combine(basePath, "manifest.json");
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"keys\"", "\"keys\" x", StringComparison.Ordinal));
            var e = Assert.Throws<InputFormatException>(() => MappedShard.Open(basePath, inMemory: false));
            Assert.StartsWith($"{path}: line ", e.Message);
        }
    }

    [Fact]
    public void ADeltaOfAnotherBaseIsRefused()
    {
        var (dir, basePath, delta) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: true))
        {
            TestTables.WriteSequenceFile(dir.Combine("b2", "a"), [(1, [9])]);
            TestTables.Build(dir.Combine("b2"), dir.Combine("out"), "200", shards: 1);
            store.LoadBase(dir.Combine("out", "200_200", "test_part0"));
            var e = Assert.Throws<InvalidOperationException>(() => store.ApplyDelta(delta));
            Assert.Contains("it patches base 100 but the live base is 200", e.Message);
            Assert.Equal((byte)9, FirstByte(store, 1));
            e = Assert.Throws<InvalidOperationException>(() => store.ApplyDelta(basePath));
            Assert.Contains("it is a base, not a delta", e.Message);

            store.LoadBase(basePath, [delta]);
            e = Assert.Throws<InvalidOperationException>(() => store.ApplyDelta(delta));
            Assert.Contains("is not newer than the live version 101", e.Message);
            Assert.Equal("100_101", store.Live!.VersionLabel);
        }
    }

    [Fact]
    public void AReaderKeepsItsViewAcrossASwitchAndTheOldViewIsUnmappedWhenItLeaves()
    {
        var (dir, basePath, delta) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: true))
        {
            store.LoadBase(basePath);
            var old = store.Live!;
            var lease = store.Acquire();
            var before = new ValueRef[1];
            lease.View!.Lookup([700], before);
            store.ApplyDelta(delta);
            Assert.Equal(1, old.References); // only our lease holds it now
            Assert.Equal((byte)1, before[0].Span[0]); // still mapped: the value is readable
            var baseLayer = old.Base;
            Assert.Equal(2, baseLayer.References); // held by the old view and by the new one
            lease.Dispose();
            Assert.Equal(0, old.References);
            Assert.Equal(1, baseLayer.References); // the new view still needs the base
            Assert.False(old.TryAddRef());
            Assert.Equal((byte)2, FirstByte(store, 700));
        }
    }

    [Fact]
    public async Task ConcurrentReadersNeverSeeAFailureDuringSwitches()
    {
        var (dir, basePath, delta) = BuildBaseAndDelta();
        using (dir)
        using (var store = new ShardStore(inMemory: true))
        {
            store.LoadBase(basePath);
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var wrong = 0L;
            var reads = 0L;
            // Its own thread: under a loaded test run a pool thread may not start within the 10 s.
            var reader = Task.Factory.StartNew(() =>
            {
                var keys = Enumerable.Range(0, 100).Select(i => (ulong)(i * 10)).ToArray();
                var results = new ValueRef[keys.Length];
                while (!stop.IsCancellationRequested)
                {
                    using var lease = store.Acquire();
                    lease.View!.Lookup(keys, results);
                    for (var i = 0; i < keys.Length; i++)
                    {
                        if (!results[i].Found || results[i].Span[1] != (byte)keys[i])
                        {
                            Interlocked.Increment(ref wrong);
                        }
                    }

                    Interlocked.Increment(ref reads);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            // Bounded: at least 30 switches, until the reader has done 2000 batches or 10 s pass.
            for (var i = 0; (i < 30 || Interlocked.Read(ref reads) < 2000) && !stop.IsCancellationRequested; i++)
            {
                store.LoadBase(basePath, i % 2 == 0 ? [delta] : null);
            }

            stop.Cancel();
            await reader;
            Assert.Equal(0, wrong);
            Assert.True(reads >= 2000, $"only {reads} batches read");
        }
    }
}
