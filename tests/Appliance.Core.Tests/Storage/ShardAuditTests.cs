using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>The audit behind <c>cube package verify</c> finds defects a checksum
/// cannot (the checksums are rewritten to match, as a buggy builder would have written them), and
/// passes what the builder writes.</summary>
public sealed class ShardAuditTests
{
    [Fact]
    public void ABuiltPackageIsSound()
    {
        using var dir = Build();
        var shard = MappedShard.Open(dir.Combine("out", "100_100", "test_part1"), inMemory: false);
        Assert.Empty(shard.Audit());
        shard.Release();
    }

    [Theory]
    [InlineData("wrong-shard", "belongs to shard 0 of 2, not 1")]
    [InlineData("unreachable", "is not reachable from the index")]
    [InlineData("slot", "which is not a record start")]
    [InlineData("count", "records; the manifest says")]
    public void EachDefectIsNamedWithItsFileAndOffset(string defect, string expected)
    {
        using var dir = Build();
        var shardDir = dir.Combine("out", "100_100", "test_part1");
        var values = Path.Combine(shardDir, "values.bin");
        var index = Path.Combine(shardDir, "index.bin");
        switch (defect)
        {
            case "wrong-shard": // the first record's key made even (shard 0) — and so also unreachable
            case "unreachable":
                {
                    var bytes = File.ReadAllBytes(values);
                    var key = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(64));
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(64), defect == "wrong-shard" ? key + 1 : key + 2000);
                    File.WriteAllBytes(values, bytes);
                    break;
                }

            case "slot":
                {
                    var bytes = File.ReadAllBytes(index);
                    var at = Enumerable.Range(0, (bytes.Length - 64) / 8).Select(i => 64 + (i * 8)).First(o => BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(o)) != 0);
                    var slot = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), slot + 1); // offset + 8 bytes: inside a record
                    File.WriteAllBytes(index, bytes);
                    break;
                }

            case "count": // headers and manifest agree with each other, not with the records
                foreach (var file in new[] { index, values })
                {
                    var bytes = File.ReadAllBytes(file);
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)) + 1);
                    File.WriteAllBytes(file, bytes);
                }

                Rewrite(shardDir, m => m with { Keys = m.Keys + 1 });
                break;
        }

        Rewrite(shardDir, m => m with
        {
            Index = m.Index with { Xxh128 = Hash(index) },
            Values = m.Values with { Xxh128 = Hash(values) },
        });
        var shard = MappedShard.Open(shardDir, inMemory: false);
        var defects = shard.Audit();
        shard.Release();
        Assert.Contains(defects, d => d.Contains(expected, StringComparison.Ordinal) && d.Contains("offset ", StringComparison.Ordinal));
    }

    private static TempDirectory Build()
    {
        var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), Enumerable.Range(0, 200).Select(i => ((ulong)i, new byte[] { 1, (byte)i, 3, 4 })));
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "100", shards: 2);
        return dir;
    }

    private static string Hash(string path) => Convert.ToHexStringLower(XxHash128.Hash(File.ReadAllBytes(path)));

    private static void Rewrite(string shardDir, Func<ShardManifest, ShardManifest> change)
    {
        var path = Path.Combine(shardDir, "manifest.json");
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), StorageJsonContext.Default.ShardManifest)!;
        File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(change(manifest), StorageJsonContext.Default.ShardManifest));
    }
}
