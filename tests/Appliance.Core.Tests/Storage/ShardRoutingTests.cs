using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>Shard routing is a contract with the original builder and client and with every
/// package already built: these values must never change.</summary>
public sealed class ShardRoutingTests
{
    [Theory]
    [InlineData(0UL, 1, 0)]
    [InlineData(12345UL, 1, 0)]
    [InlineData(0UL, 2, 0)]
    [InlineData(1UL, 2, 1)]
    [InlineData(7UL, 3, 1)]
    [InlineData(1000001UL, 10, 1)]
    [InlineData(18446744073709551615UL, 2, 1)]
    [InlineData(18446744073709551615UL, 3, 0)]
    [InlineData(18446744073709551615UL, 7, 1)]
    [InlineData(9223372036854775808UL, 10, 8)]
    [InlineData(9223372036854775807UL, 65535, 32767)]
    public void ShardIsKeyModuloShardCountAsTheOriginal(ulong key, int shards, int expected) =>
        Assert.Equal(expected, ShardRouting.ShardOf(key, shards));

    [Fact]
    public void SplitKeepsRequestOrderInsideEachShard()
    {
        ulong[] keys = [5, 2, 9, 4, 7, 12, 0, 3];
        var (shardKeys, positions) = ShardRouting.Split(keys, 3);
        Assert.Equal([9UL, 12, 0, 3], shardKeys[0]);
        Assert.Equal([2, 5, 6, 7], positions[0]);
        Assert.Equal([4UL, 7], shardKeys[1]);
        Assert.Equal([3, 4], positions[1]);
        Assert.Equal([5UL, 2], shardKeys[2]);
        Assert.Equal([0, 1], positions[2]);
    }

    [Fact]
    public void ShardsWithoutKeysGetEmptyArrays()
    {
        var (shardKeys, positions) = ShardRouting.Split([4UL, 8], 4);
        Assert.Equal([4UL, 8], shardKeys[0]);
        Assert.All(shardKeys.Skip(1), Assert.Empty);
        Assert.All(positions.Skip(1), Assert.Empty);
    }

    [Fact]
    public void GroupFillsTheCallersBuffersAsSplitDoes()
    {
        var random = new Random(4);
        foreach (var (count, shards) in new[] { (0, 3), (1, 1), (8, 3), (500, 7), (40, 64) })
        {
            var keys = Enumerable.Range(0, count).Select(_ => (ulong)random.NextInt64()).ToArray();
            // Buffers larger than needed and dirty, as pooled ones are.
            var starts = Enumerable.Repeat(-9, shards + 5).ToArray();
            var grouped = new ulong[count + 3];
            var positions = Enumerable.Repeat(-1, count + 3).ToArray();
            ShardRouting.Group(keys, shards, starts, grouped, positions);
            var (shardKeys, shardPositions) = ShardRouting.Split(keys, shards);
            for (var s = 0; s < shards; s++)
            {
                Assert.Equal(shardKeys[s], grouped[starts[s]..starts[s + 1]]);
                Assert.Equal(shardPositions[s], positions[starts[s]..starts[s + 1]]);
            }

            Assert.Equal(count, starts[shards]);
        }
    }
}
