using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>Helpers that write input files and build packages for storage tests.</summary>
internal static class TestTables
{
    public static void WriteSequenceFile(string path, IEnumerable<(ulong Key, byte[] Value)> records)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var writer = SequenceFileWriter.Create(path, seed: 1);
        foreach (var (k, v) in records)
        {
            writer.Write(k, v);
        }
    }

    public static BuildResult Build(string input, string output, string version, int shards = 2, string? baseId = null, ValueCodec codec = ValueCodec.Raw) =>
        TableBuilder.Build(new BuildOptions
        {
            InputPath = input,
            OutputPath = output,
            Dict = "test",
            Shards = shards,
            Mode = baseId is null ? VersionMode.Base : VersionMode.Delta,
            Version = version,
            Base = baseId,
            Codec = codec,
        });

    /// <summary>Opens every shard of the newest base of <paramref name="output"/> plus its deltas.</summary>
    public static ShardStore[] OpenAll(string output, bool inMemory = true, DiskTierOptions? disk = null)
    {
        // The stores outlive the table object; disposing them (DisposeAll) releases everything.
        var newest = PackageCatalog.ResolveNewest(output, "test")!.Value;
        var table = new LocalTable(output, "test", Enumerable.Range(0, newest.Base.Info.ShardCount), inMemory, disk: disk);
        table.Refresh();
        return [.. table.Shards.Select(table.Store)];
    }

    /// <summary>Asserts every key of <paramref name="expected"/>, plus <paramref name="absent"/>, answers as the dictionary says.</summary>
    public static void AssertMatches(ShardStore[] stores, Dictionary<ulong, byte[]> expected, IReadOnlyList<ulong> absent)
    {
        var keys = expected.Keys.Concat(absent).ToArray();
        var mismatches = 0;
        foreach (var group in keys.GroupBy(k => ShardRouting.ShardOf(k, stores.Length)))
        {
            using var lease = stores[group.Key].Acquire();
            var batch = group.ToArray();
            var results = new ValueRef[batch.Length];
            using var arena = new ValueArena();
            var values = new List<byte[]?>(batch.Length);
            for (var start = 0; start < batch.Length; start += 100)
            {
                var n = Math.Min(100, batch.Length - start);
                Assert.Equal(0, lease.View!.Lookup(batch.AsSpan(start, n), results.AsSpan(start, n), arena));
                // A disk tier's values live in the arena until its next lookup: copy them out.
                for (var i = start; i < start + n; i++)
                {
                    values.Add(results[i].Found ? results[i].Span.ToArray() : null);
                }
            }

            for (var i = 0; i < batch.Length; i++)
            {
                var ok = expected.TryGetValue(batch[i], out var value)
                    ? values[i] is { } got && got.AsSpan().SequenceEqual(value)
                    : values[i] is null;
                if (!ok && mismatches++ < 5)
                {
                    Assert.Fail($"key {batch[i]}: expected {(value is null ? "MISSING" : Convert.ToHexStringLower(value))}, got {(values[i] is { } v ? Convert.ToHexStringLower(v) : "MISSING")}");
                }
            }
        }

        Assert.Equal(0, mismatches);
    }

    public static void DisposeAll(ShardStore[] stores)
    {
        foreach (var s in stores)
        {
            s.Dispose();
        }
    }
}
