using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

public sealed class BuildThreadsTests
{
    [Fact]
    public void TwoItemsOnTwoThreadsRunAtTheSameTime()
    {
        // A build's two shards must be written side by side. Each item waits for the other at a
        // barrier: run one after the other, the first would wait out the timeout.
        using var barrier = new Barrier(2);
        var met = new bool[2];
        BuildThreads.For(2, 2, i => met[i] = barrier.SignalAndWait(TimeSpan.FromSeconds(20)));
        Assert.Equal([true, true], met);
    }

    [Fact]
    public void EveryItemRunsOnce()
    {
        var runs = new int[100];
        BuildThreads.For(runs.Length, 3, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(1, r));
        BuildThreads.For(0, 2, _ => throw new InvalidOperationException("no items, no calls"));
    }

    [Fact]
    public void TheLowestFailingItemIsReportedAndTheRestAreNotStarted()
    {
        var started = 0;
        var e = Assert.Throws<InvalidDataException>(() => BuildThreads.For(50, 1, i =>
        {
            Interlocked.Increment(ref started);
            if (i is 3 or 7)
            {
                throw new InvalidDataException($"item {i}");
            }
        }));
        Assert.Equal("item 3", e.Message);
        Assert.Equal(4, started);
    }
}
