using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Training;

namespace Appliance.Core.Tests.Training;

/// <summary>Generated data has the Criteo shape and is reproducible; bad training input names its
/// file and line; the held-out split is the file's tail.</summary>
public sealed class TrainingDataTests
{
    [Fact]
    public void GeneratedRowsAreCriteoAndReproducible()
    {
        using var dir = new TempDirectory();
        var summary = GeneratedData.Write(dir.Combine("a.tsv"), 2000, seed: 9);
        GeneratedData.Write(dir.Combine("b.tsv"), 2000, seed: 9);
        GeneratedData.Write(dir.Combine("c.tsv"), 2000, seed: 9, stream: 1);
        Assert.Equal(File.ReadAllBytes(dir.Combine("a.tsv")), File.ReadAllBytes(dir.Combine("b.tsv")));
        Assert.NotEqual(File.ReadAllBytes(dir.Combine("a.tsv")), File.ReadAllBytes(dir.Combine("c.tsv")));

        var samples = File.ReadAllLines(dir.Combine("a.tsv")).Select(l => CriteoSample.Parse(l)).ToList();
        Assert.All(samples, s => Assert.NotNull(s.Label));
        Assert.All(samples.SelectMany(s => s.Sparse).Where(t => t.Length > 0), t => Assert.Matches("^[0-9a-f]{8}$", t));
        Assert.Contains(samples, s => s.Dense.Any(d => d is null));
        Assert.Contains(samples, s => s.Sparse.Any(t => t.Length == 0));
        var ctr = samples.Average(s => s.Label!.Value);
        Assert.InRange(ctr, 0.15, 0.35);
        Assert.InRange(summary.BestAuc, 0.7, 0.99);
        Assert.Equal(2000, GeneratedData.ReadTruth(dir.Combine("a.tsv"), 0, 2000)!.Length);
        Assert.Null(GeneratedData.ReadTruth(dir.Combine("missing.tsv"), 0, 1));
    }

    [Fact]
    public void HeldOutRowsAreTheTail()
    {
        using var dir = new TempDirectory();
        GeneratedData.Write(dir.Combine("a.tsv"), 100, seed: 2);
        var table = new EmbeddingTable(10, 1);
        var data = TrainingData.Load(dir.Combine("a.tsv"), 0.1, HashScheme.Paddle, table);
        var lines = File.ReadAllLines(dir.Combine("a.tsv"));
        Assert.Equal((90, 10), (data.Train.Count, data.HeldOut.Count));
        Assert.Equal(lines[90..], data.HeldOutLines);
        Assert.Equal(lines.Select(l => (byte)(l[0] - '0')), data.Train.Labels.Concat(data.HeldOut.Labels));
        Assert.Equal(0, TrainingData.HeldOutCount(100, 0));

        // Training rows' keys are in the table; a held-out key only if training rows had it.
        var trainKeys = lines[..90].SelectMany(l => CriteoSample.Parse(l).Sparse.Select((t, s) => FeatureHasher.PaddleKey(s, t))).ToHashSet();
        Assert.Equal(trainKeys.Count, table.Count);
        var heldKeys = lines[90..].SelectMany(l => CriteoSample.Parse(l).Sparse.Select((t, s) => FeatureHasher.PaddleKey(s, t))).ToArray();
        Assert.Equal(heldKeys.Select(k => trainKeys.Contains(k) ? table.Find(k) : -1), data.HeldOut.Rows);
    }

    [Fact]
    public void RowsCountWithOrWithoutAFinalNewlineAndLargeFilesStreamInChunks()
    {
        using var dir = new TempDirectory();
        GeneratedData.Write(dir.Combine("a.tsv"), 70_000, seed: 2); // more than one 65 536-row chunk
        var text = File.ReadAllText(dir.Combine("a.tsv"));
        File.WriteAllText(dir.Combine("b.tsv"), text.TrimEnd('\n'));
        var a = TrainingData.Load(dir.Combine("a.tsv"), 0.5, HashScheme.Paddle, new EmbeddingTable(10, 1));
        var b = TrainingData.Load(dir.Combine("b.tsv"), 0.5, HashScheme.Paddle, new EmbeddingTable(10, 1));
        Assert.Equal((35_000, 35_000), (a.Train.Count, a.HeldOut.Count));
        Assert.Equal(a.Train.Rows, b.Train.Rows);
        Assert.Equal(a.HeldOut.Dense, b.HeldOut.Dense);
    }

    [Theory]
    [InlineData("x\t1", "2 fields")]
    [InlineData("7\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\ta\tb\tc\td\te\tf\tg\th\ti\tj\tk\tl\tm\tn\to\tp\tq\tr\ts\tt\tu\tv\tw\tx\ty\tz", "label '7'")]
    [InlineData("1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\ta\tb\tc\td\te\tf\tg\th\ti\tj\tk\tl\tm\tn\to\tp\tq\tr\ts\tt\tu\tv\tw\tx\ty\tz", "no label")]
    [InlineData("1\t2\tzz\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\ta\tb\tc\td\te\tf\tg\th\ti\tj\tk\tl\tm\tn\to\tp\tq\tr\ts\tt\tu\tv\tw\tx\ty\tz", "I2 = 'zz'")]
    public void BadRowsNameFileAndLine(string bad, string message)
    {
        using var dir = new TempDirectory();
        GeneratedData.Write(dir.Combine("a.tsv"), 10, seed: 2);
        var lines = File.ReadAllLines(dir.Combine("a.tsv")).ToList();
        lines.Insert(4, bad);
        File.WriteAllLines(dir.Combine("a.tsv"), lines);

        var e = Assert.Throws<InputFormatException>(() => TrainingData.Load(dir.Combine("a.tsv"), 0.1, HashScheme.Paddle, new EmbeddingTable(10, 1)));
        Assert.Contains(dir.Combine("a.tsv"), e.Message);
        Assert.Contains("line 5", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void TooFewRowsAreRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("a.tsv"), string.Empty);
        Assert.Throws<InputFormatException>(() => TrainingData.Load(dir.Combine("a.tsv"), 0.1, HashScheme.Paddle, new EmbeddingTable(10, 1)));
    }
}
