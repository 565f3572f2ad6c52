using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>Pins the on-disk layout documented in <see cref="ShardLayout"/>: a change here means a
/// format version bump, not a test update.</summary>
public sealed class ShardLayoutTests
{
    [Fact]
    public void KeyHashIsMurmur3Fmix64()
    {
        Assert.Equal(0xb456bcfc34c2cb2cUL, KeyHash.Mix(1));
        Assert.Equal(0x3abf2a20650683e7UL, KeyHash.Mix(2));
        Assert.Equal(0x17d2abfbf90baef9UL, KeyHash.Mix(12345));
        Assert.Equal(1u, KeyHash.Fingerprint(0)); // 0 is reserved for empty slots
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(17)]
    [InlineData(100)]
    public void BatchHashEqualsScalarHash(int count)
    {
        var random = new Random(count);
        var keys = Enumerable.Range(0, count).Select(_ => (ulong)random.NextInt64()).ToArray();
        var hashes = new ulong[count];
        KeyHash.MixBatch(keys, hashes);
        Assert.Equal(keys.Select(KeyHash.Mix), hashes);
    }

    [Fact]
    public void DiskEnumsKeepTheirNumbers()
    {
        Assert.Equal(0, (int)ValueCodec.Raw);
        Assert.Equal(1, (int)ValueCodec.F32);
        Assert.Equal(2, (int)ValueCodec.F16);
        Assert.Equal(3, (int)ValueCodec.I8);
        Assert.Equal(64, ShardLayout.HeaderSize);
        Assert.Equal(64, ShardLayout.BucketSize);
        Assert.Equal(12, ShardLayout.RecordHeaderSize);
    }

    [Fact]
    public void TinyPackageMatchesGoldenBytes()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), [(1, "abc"u8.ToArray()), (2, [])]);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "7", shards: 1);
        var shard = dir.Combine("out", "7_7", "test_part0");

        var index = string.Concat(
            "43494458", "0100", "0800",                 // "CIDX", format 1, 8-byte slots
            "0100000000000000",                         // 1 bucket
            "0200000000000000",                         // 2 keys
            "6000000000000000",                         // values.bin is 96 bytes
            new string('0', 64),                        // reserved
            "08000000002ccbc2",                         // key 1: fp c2cb2c, record at 64/8 = 8
            "0a00000000e78306",                         // key 2: fp 0683e7, record at 80/8 = 10
            new string('0', 6 * 16));                   // 6 empty slots
        var values = string.Concat(
            "4356414c", "0100", "0000", "00000000", "00000000", // "CVAL", format 1, raw, dimension 0, reserved
            "0200000000000000", new string('0', 80),           // 2 records, reserved
            "0100000000000000", "03000000", "616263", "00",    // key 1, length 3, "abc", pad to 8
            "0200000000000000", "00000000", "00000000");        // key 2, length 0, pad
        Assert.Equal(index, Convert.ToHexStringLower(File.ReadAllBytes(Path.Combine(shard, "index.bin"))));
        Assert.Equal(values, Convert.ToHexStringLower(File.ReadAllBytes(Path.Combine(shard, "values.bin"))));
        var manifest = MappedShard.ReadManifest(shard);
        Assert.Equal(2, manifest.Keys);
        Assert.Equal(32, manifest.Values.Xxh128.Length);
    }
}
