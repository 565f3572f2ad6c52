using System.Text.Json;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>The shard writer's last-occurrence-wins across sources, when most records repeat a
/// key (a merge of patches that rewrite the same rows): every key answers its last value, and the
/// index is sized for the distinct keys, not for every occurrence.</summary>
public sealed class ShardWriterTests
{
    [Theory]
    [InlineData(1, 500)]
    [InlineData(20, 1_000)]
    [InlineData(3, 70_000)]
    public void RepeatedKeysKeepTheirLastValueInAnIndexSizedForTheDistinctKeys(int sources, int keysPerSource)
    {
        using var dir = new TempDirectory();
        var random = new Random((sources * 31) + keysPerSource);
        var universe = keysPerSource + (keysPerSource / 2);
        var expected = new Dictionary<ulong, byte[]>();
        var buffers = new List<EntryBuffer>();
        for (var s = 0; s < sources; s++)
        {
            var buffer = new EntryBuffer();
            for (var i = 0; i < keysPerSource; i++)
            {
                // Repeats inside one source too; lengths vary so offsets do not line up with entries.
                var key = (ulong)random.Next(universe) * 7919;
                var value = new byte[random.Next(0, 3) * 8 + 4];
                random.NextBytes(value);
                buffer.Add(key, value);
                expected[key] = value;
            }

            buffers.Add(buffer);
        }

        var package = dir.Combine("p");
        var (index, values, keys) = ShardWriter.Write(package, buffers, ValueCodec.Raw, 0);
        Assert.Equal(expected.Count, keys);
        var slots = (long)ShardLayout.BucketCountFor(expected.Count) * ShardLayout.SlotsPerBucket;
        Assert.Equal(ShardLayout.HeaderSize + (slots * sizeof(ulong)), new FileInfo(Path.Combine(package, ShardLayout.IndexFileName)).Length);

        var manifest = new ShardManifest
        {
            Dict = "test", Shard = 0, ShardCount = 1, Version = "1", Base = "1", Mode = VersionMode.Base,
            Codec = ValueCodecs.Name(ValueCodec.Raw), Dimension = 0, Keys = keys, Index = index, Values = values,
        };
        File.WriteAllBytes(Path.Combine(package, ShardLayout.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, StorageJsonContext.Default.ShardManifest));
        var shard = MappedShard.Open(package, inMemory: false, trustStamp: false);
        try
        {
            foreach (var (key, value) in expected)
            {
                var found = shard.Find(key);
                Assert.True(found.Found && found.Span.SequenceEqual(value), $"key {key}: {(found.Found ? Convert.ToHexString(found.Span) : "missing")}, expected {Convert.ToHexString(value)}");
            }

            Assert.False(shard.Find(7919UL * (ulong)(universe + 1)).Found);
        }
        finally
        {
            shard.Release();
        }
    }
}
