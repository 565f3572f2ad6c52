using System.Buffers.Binary;
using Appliance.Core.Engine;
using Appliance.Core.Storage;
using Appliance.Core.Tests.Storage;

namespace Appliance.Core.Tests.Engine;

/// <summary>The engine's local source groups a request's keys by shard in pooled arrays: every key
/// gets its own row back in request order, whatever the shards, the batch sizes before it, keys
/// repeated or absent, and shards without a key in the request.</summary>
public sealed class LocalEmbeddingSourceTests
{
    [Fact]
    public async Task EveryKeyGetsItsRowInRequestOrderAcrossShardsAndBatchSizes()
    {
        using var dir = new TempDirectory();
        var random = new Random(17);
        var table = new Dictionary<ulong, float[]>();
        while (table.Count < 3000)
        {
            table[(ulong)random.NextInt64()] = [.. Enumerable.Range(0, 4).Select(_ => random.NextSingle())];
        }

        TestTables.WriteSequenceFile(dir.Combine("in", "part-00000"), table.Select(kv =>
        {
            var row = new byte[16];
            for (var d = 0; d < 4; d++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(d * 4), kv.Value[d]);
            }

            return (kv.Key, row);
        }));
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1", shards: 3, codec: ValueCodec.F32);
        using var local = LocalTable.OpenNewest(dir.Combine("out"), "test", inMemory: true);
        await using var source = new LocalEmbeddingSource(local);
        var present = table.Keys.ToArray();
        foreach (var size in new[] { 1000, 0, 1, 7, 2500, 3, 64, 1000 })
        {
            // Absent keys, repeats, and (for small sizes) shards with no key at all.
            var keys = Enumerable.Range(0, size).Select(i => i % 9 == 4 ? (ulong)random.NextInt64() : present[random.Next(size < 10 ? 2 : present.Length)]).ToArray();
            var vectors = new float[size * 4];
            vectors.AsSpan().Fill(float.NaN);
            var found = new bool[size];
            await source.GatherAsync(keys, vectors, 4, ValueCodec.F32, found, CancellationToken.None);
            for (var i = 0; i < size; i++)
            {
                if (table.TryGetValue(keys[i], out var row))
                {
                    Assert.True(found[i], $"size {size}, key {i}");
                    Assert.Equal(row, vectors.AsSpan(i * 4, 4).ToArray());
                }
                else
                {
                    Assert.False(found[i], $"size {size}, key {i} is absent");
                }
            }
        }
    }
}
