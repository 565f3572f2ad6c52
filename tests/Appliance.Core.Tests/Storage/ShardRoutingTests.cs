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
}
