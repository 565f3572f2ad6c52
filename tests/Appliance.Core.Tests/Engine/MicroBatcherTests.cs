using System.Globalization;
using Appliance.Core.Engine;

namespace Appliance.Core.Tests.Engine;

public sealed class MicroBatcherTests
{
    /// <summary>A stand-in for the engine: the score of a line is the number it holds.</summary>
    private static Task<ScoreResult> Echo(IReadOnlyList<EngineSample> samples, List<int> runs)
    {
        var lines = samples.Select(s => s.Line.ToString()).ToList();
        lock (runs)
        {
            runs.Add(lines.Count);
        }

        var scores = lines.Select(l => l == "bad" ? (float?)null : float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        var errors = lines.Select(l => l == "bad" ? "bad sample" : null).ToArray();
        return Task.FromResult(new ScoreResult(scores, errors, 0, 0, "v"));
    }

    [Fact]
    public async Task ConcurrentRequestsShareRunsAndEachGetsItsOwnScores()
    {
        var runs = new List<int>();
        // One runner that takes a while: requests queue behind it and are merged.
        await using var batcher = new MicroBatcher(async (lines, ct) => { await Task.Delay(5, ct); return await Echo(lines, runs); }, maxBatch: 64, concurrency: 1);
        var requests = Enumerable.Range(0, 200).Select(i => Task.Run(() => batcher.ScoreAsync(EngineSample.FromLines(i % 17 == 0 ? ["bad", $"{i}"] : [$"{i}"]), CancellationToken.None))).ToArray();
        var results = await Task.WhenAll(requests);
        for (var i = 0; i < results.Length; i++)
        {
            var last = results[i].Scores[^1];
            Assert.Equal((float)i, last);
            if (i % 17 == 0)
            {
                Assert.Null(results[i].Scores[0]);
                Assert.Equal("bad sample", results[i].Errors[0]);
            }
        }

        Assert.True(runs.Count < 200, $"{runs.Count} runs for 200 requests");
        Assert.All(runs, r => Assert.True(r <= 64 + 1));
        Assert.True(batcher.MeanBatch > 1);
    }

    [Fact]
    public async Task AnIdleBatcherAddsNoWaitAndLargeRequestsRunAlone()
    {
        var runs = new List<int>();
        await using var batcher = new MicroBatcher((lines, _) => Echo(lines, runs), maxBatch: 8, concurrency: 2);
        await batcher.ScoreAsync(EngineSample.FromLines(["1"]), CancellationToken.None);
        var big = await batcher.ScoreAsync(EngineSample.FromLines([.. Enumerable.Range(0, 10).Select(i => $"{i}")]), CancellationToken.None);
        Assert.Equal(10, big.Scores.Length);
        Assert.Equal([1, 10], runs);
    }

    [Fact]
    public async Task WithASpinBudgetRequestsThatComeCloseTogetherAreTakenWhileItPolls()
    {
        var runs = new List<int>();
        await using var batcher = new MicroBatcher((lines, _) => Echo(lines, runs), maxBatch: 8, concurrency: 1, spinMicros: 20_000);
        for (var i = 0; i < 50; i++)
        {
            var result = await batcher.ScoreAsync(EngineSample.FromLines([$"{i}"]), CancellationToken.None);
            Assert.Equal((float)i, result.Scores[0]);
        }

        Assert.True(batcher.SpinHits > 0, $"hits {batcher.SpinHits}, misses {batcher.SpinMisses}");

        // Nothing more comes: the poll spends its budget and the loop parks (a miss), and still
        // answers the next request.
        for (var waited = 0; batcher.SpinMisses == 0 && waited < 10_000; waited += 10)
        {
            await Task.Delay(10);
        }

        Assert.True(batcher.SpinMisses > 0);
        Assert.Equal(7f, (await batcher.ScoreAsync(EngineSample.FromLines(["7"]), CancellationToken.None)).Scores[0]);
    }

    [Theory]
    [InlineData(0, 0)]     // no budget: never polls
    [InlineData(1_000, 30)] // requests 30 ms apart, budget 1 ms: an idle engine does not poll
    public async Task WithoutABudgetOrWithRequestsFarApartItNeverPolls(int spinMicros, int apartMs)
    {
        var runs = new List<int>();
        await using var batcher = new MicroBatcher((lines, _) => Echo(lines, runs), maxBatch: 8, concurrency: 1, spinMicros: spinMicros);
        for (var i = 0; i < 10; i++)
        {
            await batcher.ScoreAsync(EngineSample.FromLines([$"{i}"]), CancellationToken.None);
            await Task.Delay(apartMs);
        }

        Assert.Equal((0L, 0L), (batcher.SpinHits, batcher.SpinMisses));
        Assert.Equal(10, runs.Count);
    }
}
