using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>The disk tier's row cache: what it answers, what its admission policy keeps when a
/// scan passes through, and that readers racing writers never copy a torn row.</summary>
public sealed class RowCacheTests
{
    private static byte[] RowOf(ulong key, int length = 40)
    {
        var row = new byte[length];
        for (var i = 0; i < length; i++)
        {
            row[i] = (byte)(key * 31 + (ulong)i);
        }

        return row;
    }

    [Fact]
    public void ARowOfferedToAnEmptySetIsAnsweredForItsTagAndKeyOnly()
    {
        using var cache = new RowCache(64 << 10, 40);
        var row = RowOf(7);
        Assert.True(cache.Offer(tag: 100, key: 7, row));
        var into = new byte[cache.RowBytes];
        Assert.True(cache.TryGet(100, 7, into, out var length));
        Assert.Equal(row, into[..length]);
        Assert.False(cache.TryGet(100, 8, into, out _)); // same tag, another key: never answered
        Assert.False(cache.TryGet(101, 7, into, out _)); // another package's record
    }

    [Fact]
    public void ARowLongerThanTheCacheRowIsNotCached()
    {
        using var cache = new RowCache(64 << 10, 40);
        Assert.False(cache.Offer(1, 1, RowOf(1, 41 + 8)));
        Assert.False(cache.TryGet(1, 1, new byte[cache.RowBytes], out _));
    }

    [Fact]
    public void TheCacheUsesTheMemoryItIsGiven()
    {
        using var cache = new RowCache(10 << 20, 40);
        Assert.InRange(cache.Bytes, 9L << 20, 10L << 20);
        Assert.Equal(40, cache.RowBytes);
    }

    /// <summary>TinyLFU: hot rows asked for many times stay while ten times the cache's rows pass
    /// through once each. The same workload with admission off and first-in first-out eviction flushes
    /// them (a plain FIFO cache, as a page cache behaves): the test can fail, and shows what the
    /// policy is worth.</summary>
    [Theory]
    [InlineData(false, 0.9, 1.0)]
    [InlineData(true, 0.0, 0.3)]
    public void AScanDoesNotFlushTheHotRows(bool fifo, double least, double most)
    {
        using var cache = new RowCache(256 << 10, 40) { Fifo = fifo };
        var hot = Enumerable.Range(1, (int)(cache.Rows / 4)).Select(i => (ulong)i).ToArray();
        var into = new byte[cache.RowBytes];
        void Ask(ulong key)
        {
            if (!cache.TryGet(key, key, into, out _))
            {
                cache.Offer(key, key, RowOf(key));
            }
        }

        for (var round = 0; round < 8; round++)
        {
            foreach (var k in hot)
            {
                Ask(k);
            }
        }

        for (var k = 1_000_000UL; k < 1_000_000UL + (ulong)(cache.Rows * 10); k++)
        {
            Ask(k); // the scan: every key once
        }

        var hits = hot.Count(k => cache.TryGet(k, k, into, out _));
        Assert.InRange((double)hits / hot.Length, least, most);
    }

    /// <summary>Two writers replace rows in the same few sets while two readers copy them: every
    /// row read is whole (its bytes are a function of its key), never half of one and half of another.
    /// Bounded by count, not by a clock alone: on a loaded machine (the whole suite in parallel) the
    /// pool may start a thread late, so each runs on its own thread, all start together, and the
    /// readers go on until they have copied enough rows (or a generous deadline passes).</summary>
    [Fact]
    public async Task ReadersRacingWritersNeverCopyATornRow()
    {
        const int WantedReads = 20_000;
        using var cache = new RowCache(RowCache.Ways * 4 * 300, 256); // a few sets: constant eviction
        using var start = new Barrier(4);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var readersDone = 0;
        long reads = 0;
        var torn = 0;
        Task Run(Action body) => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            body();
        }, TaskCreationOptions.LongRunning);

        var writers = Enumerable.Range(0, 2).Select(w => Run(() =>
        {
            var random = new Random(w);
            var scratch = new byte[256];
            while (Volatile.Read(ref readersDone) < 2 && DateTime.UtcNow < deadline)
            {
                var key = (ulong)random.Next(1, 200);
                cache.Offer(key, key, RowOf(key, 256));
                cache.TryGet(key, key, scratch, out _); // raise its frequency so it is admitted
            }
        })).ToArray();
        var readers = Enumerable.Range(0, 2).Select(r => Run(() =>
        {
            var random = new Random(100 + r);
            var into = new byte[256];
            var mine = 0;
            while (mine < WantedReads && DateTime.UtcNow < deadline)
            {
                var key = (ulong)random.Next(1, 200);
                if (cache.TryGet(key, key, into, out var length))
                {
                    mine++;
                    if (length != 256 || !into.AsSpan().SequenceEqual(RowOf(key, 256)))
                    {
                        Interlocked.Increment(ref torn);
                    }
                }
            }

            Interlocked.Add(ref reads, mine);
            Interlocked.Increment(ref readersDone);
        })).ToArray();
        await Task.WhenAll([.. writers, .. readers]);
        Assert.Equal(0, torn);
        Assert.True(reads > 1000, $"only {reads} hits: the race was not exercised");
    }
}
