using Appliance.Core.Engine;
using Appliance.Core.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Appliance.Core.Tests.Engine;

/// <summary>A model package names the table version it was trained with; the engine switches to it
/// only once that version (or a newer one) is served, so new weights never meet old embeddings.</summary>
public sealed class TableVersionGateTests
{
    private sealed class FakeSource : IEmbeddingSource
    {
        public string? ServedVersion { get; set; }

        public Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken) => Task.FromResult(TableSpan.None);

        public Task RefreshVersionsAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static void Write(string dir, string version) =>
        ModelPackage.Write(dir, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d", TableVersion = version }, version);

    [Fact]
    public async Task ANewPackageWaitsForItsTableVersion()
    {
        using var dir = new TempDirectory();
        var source = new FakeSource { ServedVersion = "100" };
        Write(dir.Path, "100");
        await using var variant = new ModelVariant("m", dir.Path, 1, source, NullLogger.Instance, maxBatch: 8, runners: 1);

        Write(dir.Path, "200");
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("100", variant.Engine.Model.Timestamp);
        Assert.Equal("200", variant.WaitingForTable);

        source.ServedVersion = "200";
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("200", variant.Engine.Model.Timestamp);
        Assert.Null(variant.WaitingForTable);

        // Served version unknown (a shard not heard from since it restarted): the new package
        // waits until the shards say they serve its table.
        source.ServedVersion = null;
        Write(dir.Path, "300");
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("200", variant.Engine.Model.Timestamp);
        Assert.Equal("300", variant.WaitingForTable);
        source.ServedVersion = "300";
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("300", variant.Engine.Model.Timestamp);
    }

    /// <summary>Rows of table 101 read while model 100 is live and the package on disk already
    /// waits for table 102: the package paired with 101 was overwritten before the watcher saw it
    /// (patches published faster than it ticks), so no network here was trained with these rows.
    /// They were scored by model 100 and answered under its name (the continuous prediction test,
    /// 50 patches in bursts of five: a score no trainer made); now refused until table 102 is in.</summary>
    [Fact]
    public async Task RowsNewerThanTheLiveModelWhileANewerPackageWaitsAreRefusedNotScoredByTheOldNetwork()
    {
        using var dir = new TempDirectory();
        var source = new RowsOf { ServedVersion = "100" };
        Write(dir.Path, "100");
        await using var variant = new ModelVariant("m", dir.Path, 1, source, NullLogger.Instance, maxBatch: 8, runners: 1);

        Write(dir.Path, "102");
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("102", variant.WaitingForTable);
        source.ServedVersion = "101";
        var refused = await Assert.ThrowsAsync<EngineNotReadyException>(() => variant.ScoreAsync(Sample, CancellationToken.None));
        Assert.Contains("101", refused.Message, StringComparison.Ordinal);

        source.ServedVersion = "102";
        Assert.Equal("102", (await variant.ScoreAsync(Sample, CancellationToken.None)).ModelVersion);
    }

    /// <summary>The same rows with no newer package on disk: a patch that came without a model is
    /// served with the last one, as the trainer pairs them.</summary>
    [Fact]
    public async Task RowsNewerThanTheLiveModelWithNoNewerPackageAreScoredByIt()
    {
        using var dir = new TempDirectory();
        var source = new RowsOf { ServedVersion = "100" };
        Write(dir.Path, "100");
        await using var variant = new ModelVariant("m", dir.Path, 1, source, NullLogger.Instance, maxBatch: 8, runners: 1);

        source.ServedVersion = "101";
        Assert.Equal("100", (await variant.ScoreAsync(Sample, CancellationToken.None)).ModelVersion);
    }

    private static readonly EngineSample[] Sample = [EngineSample.FromLine(string.Join('\t', Enumerable.Repeat("1", 13).Concat(Enumerable.Repeat("68fd1e64", 26))))];

    /// <summary>Every key found (zero vectors), read from the version it serves.</summary>
    private sealed class RowsOf : IEmbeddingSource
    {
        public string? ServedVersion { get; set; }

        public Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken)
        {
            found.Span.Fill(true);
            return Task.FromResult(new TableSpan(ServedVersion, ServedVersion));
        }

        public Task RefreshVersionsAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Theory]
    [InlineData(new[] { "100", "100_105" }, "100")]
    [InlineData(new[] { "100_105", "100_107" }, "105")]
    [InlineData(new[] { "90_120", "100" }, "100")]
    public void TheServedVersionIsTheOldestShardsNewestLayer(string[] labels, string expected) =>
        Assert.Equal(expected, TableVersions.OldestOf(labels));

    [Fact]
    public void AnUnknownShardMakesTheServedVersionUnknown() =>
        Assert.Null(TableVersions.OldestOf(["100", null]));

    [Theory]
    [InlineData("105", "105", true)]
    [InlineData("106", "105", true)]
    [InlineData("99", "105", false)]
    [InlineData("1000", "999", true)] // numeric, not text, order
    public void IncludesComparesIds(string served, string required, bool expected) =>
        Assert.Equal(expected, TableVersions.Includes(served, required));
}
