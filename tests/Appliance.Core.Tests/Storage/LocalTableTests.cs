using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

public sealed class LocalTableTests
{
    [Fact]
    public void OpensTheNewestBaseWithItsDeltas()
    {
        using var dir = new TempDirectory();
        BuildLineage(dir);
        using var table = LocalTable.OpenNewest(dir.Combine("out"), "test", inMemory: true);
        Assert.Equal([0, 1], table.Shards);
        Assert.All(table.Shards, s => Assert.Equal("10_12", table.Store(s).Live!.VersionLabel));
        Assert.All(table.Shards, s => Assert.Equal(["10", "11", "12"], table.Store(s).Live!.Lineage));
        Assert.False(table.Refresh()); // nothing newer
    }

    [Fact]
    public void ApplyStacksOnlyTheMissingDeltasOnTheLiveBase()
    {
        using var dir = new TempDirectory();
        BuildLineage(dir);
        // Two patch layers stay unmerged: the base must stay the one mapped.
        using var table = new LocalTable(dir.Combine("out"), "test", [1], inMemory: true, mergeAfter: 4);
        Assert.True(table.Apply("10", ["11"]));
        var store = table.Store(1);
        var before = store.Live!;
        Assert.Equal("10_11", before.VersionLabel);
        var switches = store.Switches;

        Assert.True(table.Apply("10", ["11", "12"]));
        Assert.Equal("10_12", store.Live!.VersionLabel);
        Assert.Same(before.Base, store.Live.Base); // the base stayed mapped: a delta was stacked
        Assert.Equal(switches + 1, store.Switches);

        Assert.False(table.Apply("10", ["11", "12"]));
        Assert.Equal(switches + 1, store.Switches);

        // Not a prefix of the live lineage: loaded anew beside the live view.
        Assert.True(table.Apply("10", ["12"]));
        Assert.Equal(["10", "12"], store.Live!.Layers.Select(l => l.Manifest.Version));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Store(0));
    }

    [Fact]
    public void AVersionWithTooFewShardsIsRefusedAndTheLiveOneStays()
    {
        using var dir = new TempDirectory();
        BuildLineage(dir);
        using var table = new LocalTable(dir.Combine("out"), "test", [1], inMemory: true);
        table.Apply("10", []);
        var e = Assert.Throws<InvalidOperationException>(() => table.Apply("10", ["11"], shardCount: 1));
        Assert.Contains("only 1 shard", e.Message, StringComparison.Ordinal);
        Assert.Equal("10", table.Store(1).Live!.VersionLabel);
    }

    [Fact]
    public void NoBaseIsANamedError()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<InvalidOperationException>(() => LocalTable.OpenNewest(dir.Path, "test", inMemory: false));
        Assert.Contains("no complete base of dict 'test'", e.Message, StringComparison.Ordinal);
    }

    private static void BuildLineage(TempDirectory dir)
    {
        TestTables.WriteSequenceFile(dir.Combine("b", "part-0"), Enumerable.Range(0, 100).Select(i => ((ulong)i, new byte[] { 1, (byte)i })));
        TestTables.Build(dir.Combine("b"), dir.Combine("out"), "10");
        TestTables.WriteSequenceFile(dir.Combine("d1", "part-0"), Enumerable.Range(0, 10).Select(i => ((ulong)i, new byte[] { 2, (byte)i })));
        TestTables.Build(dir.Combine("d1"), dir.Combine("out"), "11", baseId: "10");
        TestTables.WriteSequenceFile(dir.Combine("d2", "part-0"), Enumerable.Range(5, 10).Select(i => ((ulong)i, new byte[] { 3, (byte)i })));
        TestTables.Build(dir.Combine("d2"), dir.Combine("out"), "12", baseId: "10");
    }
}
