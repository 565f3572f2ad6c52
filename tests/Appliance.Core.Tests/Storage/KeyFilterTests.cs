using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>The patch layers' Bloom filter: never a false "no" (that would serve an older value),
/// few false "maybe"s (each costs one probe that finds nothing).</summary>
public sealed class KeyFilterTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(10_000)]
    [InlineData(200_000)]
    public void EveryKeyAddedIsMaybeAndFewOthersAre(int count)
    {
        var random = new Random(count);
        var keys = Enumerable.Range(0, count).Select(_ => (ulong)random.NextInt64()).ToArray();
        var filter = KeyFilter.Of(keys);
        Assert.All(keys, k => Assert.True(filter.MayContain(KeyFilter.Hash(k))));

        var inSet = keys.ToHashSet();
        var others = Enumerable.Range(0, 100_000).Select(_ => (ulong)random.NextInt64()).Where(k => !inSet.Contains(k)).ToArray();
        var falseMaybes = others.Count(k => filter.MayContain(KeyFilter.Hash(k)));
        Assert.InRange(falseMaybes / (double)others.Length, 0, 0.005); // 0.2 % expected at 20 bits a key
        Assert.InRange(filter.Bytes, 8, (count * 20 / 8) + 64);
    }

    /// <summary>The batched check (AVX2, four keys at a time, and the scalar tail) marks exactly
    /// the keys the one-key check says maybe, and leaves every other entry as it was.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(67)]
    public void MarkAgreesWithMayContain(int batch)
    {
        var random = new Random(batch);
        var keys = Enumerable.Range(0, 500).Select(_ => (ulong)random.NextInt64()).ToArray();
        var filter = KeyFilter.Of(keys);
        for (var round = 0; round < 200; round++)
        {
            // Half keys of the filter, half others, so both answers occur in every batch.
            var hashes = Enumerable.Range(0, batch).Select(i => KeyFilter.Hash(i % 2 == 0 ? keys[random.Next(keys.Length)] : (ulong)random.NextInt64())).ToArray();
            var layerOf = Enumerable.Range(0, batch).Select(i => i % 3).ToArray();
            var before = layerOf.ToArray();
            filter.Mark(hashes, layerOf, 7);
            for (var i = 0; i < batch; i++)
            {
                Assert.Equal(filter.MayContain(hashes[i]) ? 7 : before[i], layerOf[i]);
            }
        }
    }

    /// <summary>Keys of one shard share their remainder modulo the shard count: the filter's hash
    /// must not care (sequential keys of shard 3 of 16, the worst case for a weak hash).</summary>
    [Fact]
    public void KeysOfOneShardSpreadAsWellAsRandomOnes()
    {
        var keys = Enumerable.Range(0, 50_000).Select(i => (ulong)((i * 16) + 3)).ToArray();
        var filter = KeyFilter.Of(keys);
        var others = Enumerable.Range(50_000, 100_000).Select(i => (ulong)((i * 16) + 3)).ToArray();
        Assert.InRange(others.Count(k => filter.MayContain(KeyFilter.Hash(k))) / (double)others.Length, 0, 0.005);
    }
}
