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
