using Appliance.Core.Engine;

namespace Appliance.Core.Tests.Engine;

/// <summary>The engine's distinct-key index against a Dictionary doing the same job.</summary>
public sealed class KeyIndexTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(26, 26)]
    [InlineData(6656, 2500)]
    [InlineData(6656, 6656)]
    [InlineData(1000, 3)]
    public void IndexesAreInOrderOfFirstUse(int keys, int distinct)
    {
        var random = new Random(keys + distinct);
        var pool = Enumerable.Range(0, distinct).Select(_ => (ulong)random.NextInt64()).Distinct().ToArray();
        var index = new KeyIndex();
        var expected = new Dictionary<ulong, int>();
        index.Reset(keys);
        for (var i = 0; i < keys; i++)
        {
            var key = pool[i < pool.Length ? i : random.Next(pool.Length)];
            expected.TryAdd(key, expected.Count);
            Assert.Equal(expected[key], index.Add(key));
        }

        Assert.Equal(expected.Count, index.Count);
        Assert.Equal(expected.OrderBy(e => e.Value).Select(e => e.Key), index.Keys.ToArray());
    }

    [Fact]
    public void KeysThatProbeTheSameSlotsStayApart()
    {
        // Small paddle ids and keys equal in their low bits: every key here shares its low 32 bits.
        var index = new KeyIndex();
        index.Reset(64);
        var keys = Enumerable.Range(0, 64).Select(i => ((ulong)i << 32) | 7).ToArray();
        Assert.Equal(Enumerable.Range(0, 64), keys.Select(index.Add));
        Assert.Equal(Enumerable.Range(0, 64), keys.Select(index.Add));
        Assert.Equal(keys, index.Keys.ToArray());
    }

    [Fact]
    public void AResetForgetsEveryKeyWhateverTheSizeBefore()
    {
        var index = new KeyIndex();
        foreach (var capacity in new[] { 5000, 3, 40, 5000, 1 })
        {
            index.Reset(capacity);
            Assert.Equal(0, index.Count);
            for (var k = 0; k < capacity; k++)
            {
                Assert.Equal(k, index.Add((ulong)(k * 3) + 1));
            }

            Assert.Equal(0, index.Add(1));
            Assert.Equal(capacity, index.Count);
        }
    }
}
