using System.Buffers.Binary;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

public sealed class TableBuilderTests
{
    [Fact]
    public void LastOccurrenceWinsWithinAFileAndAcrossFilesInPathOrder()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "part-00001"), [(1, [1]), (2, [2]), (1, [3])]);
        TestTables.WriteSequenceFile(dir.Combine("in", "part-00002"), [(2, [4])]);
        TestTables.WriteSequenceFile(dir.Combine("in", "sub", "part-00000"), [(3, [5]), (1, [6])]);
        TestTables.WriteSequenceFile(dir.Combine("in", ".hidden"), [(1, [9])]);
        File.WriteAllText(dir.Combine("in", "_SUCCESS"), string.Empty);
        var result = TestTables.Build(dir.Combine("in"), dir.Combine("out"), "5");
        Assert.Equal(3, result.Info.Keys);
        Assert.Equal(6, result.Info.InputRecords);
        var stores = TestTables.OpenAll(dir.Combine("out"));
        // in/part-00001, in/part-00002, in/sub/part-00000 (ordinal): key 1 was last written in sub/.
        TestTables.AssertMatches(stores, new() { [1] = [6], [2] = [4], [3] = [5] }, [4, 5]);
        TestTables.DisposeAll(stores);
    }

    [Fact]
    public void SameInputBuildsIdenticalPackages()
    {
        using var dir = new TempDirectory();
        var rows = Enumerable.Range(0, 5000).Select(i => ((ulong)i * 7919, BitConverter.GetBytes(i))).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), rows);
        TestTables.WriteSequenceFile(dir.Combine("in", "b"), rows.Take(100).Select(r => (r.Item1, new byte[] { 1 })));
        TestTables.Build(dir.Combine("in"), dir.Combine("o1"), "1", shards: 4);
        TestTables.Build(dir.Combine("in"), dir.Combine("o2"), "1", shards: 4);
        for (var s = 0; s < 4; s++)
        {
            var m1 = MappedShard.ReadManifest(dir.Combine("o1", "1_1", $"test_part{s}"));
            var m2 = MappedShard.ReadManifest(dir.Combine("o2", "1_1", $"test_part{s}"));
            Assert.Equal(m1.Index, m2.Index);
            Assert.Equal(m1.Values, m2.Values);
        }
    }

    [Fact]
    public void InputLargerThanTheMemoryBudgetIsBuiltInSeveralPassesWithTheSameResult()
    {
        using var dir = new TempDirectory();
        var rows = Enumerable.Range(0, 20_000).Select(i => ((ulong)i * 31, BitConverter.GetBytes(i * 3L))).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), rows);
        TestTables.WriteSequenceFile(dir.Combine("in", "b"), rows.Take(500).Select(r => (r.Item1, new byte[] { 9 })));
        var onePass = TestTables.Build(dir.Combine("in"), dir.Combine("o1"), "1", shards: 5);
        var severalPasses = TableBuilder.Build(new BuildOptions
        {
            InputPath = dir.Combine("in"), OutputPath = dir.Combine("o2"), Dict = "test", Shards = 5, Version = "1", MemoryBudget = 100_000,
        });
        Assert.Equal(1, onePass.Passes);
        Assert.Equal(5, severalPasses.Passes);
        Assert.Equal(onePass.Info.Keys, severalPasses.Info.Keys);
        Assert.Equal(20_500, onePass.Info.InputRecords);
        Assert.Equal(20_500, severalPasses.Info.InputRecords); // each pass reads every record; counted once (was 5×)
        for (var s = 0; s < 5; s++)
        {
            Assert.Equal(
                MappedShard.ReadManifest(dir.Combine("o1", "1_1", $"test_part{s}")).Values,
                MappedShard.ReadManifest(dir.Combine("o2", "1_1", $"test_part{s}")).Values);
        }
    }

    [Fact]
    public void EverythingLandsInTheRightShardAndEmptyShardsAreLoadable()
    {
        using var dir = new TempDirectory();
        // Every key ≡ 1 (mod 4): shards 0, 2, 3 get nothing (the original produced an unloadable package).
        var rows = Enumerable.Range(0, 1000).Select(i => ((ulong)(i * 4) + 1, new byte[] { (byte)i })).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), rows);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "9", shards: 4);
        var stores = TestTables.OpenAll(dir.Combine("out"));
        Assert.Equal([0L, 1000, 0, 0], stores.Select(s => s.Live!.Keys));
        TestTables.AssertMatches(stores, rows.ToDictionary(r => r.Item1, r => r.Item2), [0, 2, 3, 4, 8]);
        TestTables.DisposeAll(stores);
    }

    [Theory]
    [InlineData(nameof(ValueCodec.F32), 0.0)]
    [InlineData(nameof(ValueCodec.F16), 1e-3)]
    [InlineData(nameof(ValueCodec.I8), 2.0 / 255 * 0.51)]
    public void FloatCodecsRoundTripWithinTheirPrecision(string codecName, double tolerance)
    {
        var codec = Enum.Parse<ValueCodec>(codecName);
        using var dir = new TempDirectory();
        var random = new Random(3);
        var rows = Enumerable.Range(0, 2000).Select(i =>
        {
            var v = new byte[16 * 4];
            for (var d = 0; d < 16; d++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(v.AsSpan(d * 4), (random.NextSingle() * 2) - 1);
            }

            return ((ulong)i, v);
        }).ToList();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), rows);
        var result = TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1", codec: codec);
        Assert.Equal(16, result.Info.Dimension);
        var stores = TestTables.OpenAll(dir.Combine("out"));
        var decoded = new float[16];
        foreach (var (key, value) in rows)
        {
            using var lease = stores[(int)(key % 2)].Acquire();
            var found = new ValueRef[1];
            lease.View!.Lookup([key], found);
            Assert.Equal(ValueCodecs.EncodedLength(codec, 16), found[0].Length);
            ValueCodecs.Decode(codec, found[0].Span, decoded);
            for (var d = 0; d < 16; d++)
            {
                Assert.InRange(decoded[d] - BinaryPrimitives.ReadSingleLittleEndian(value.AsSpan(d * 4)), -tolerance, tolerance);
            }
        }

        TestTables.DisposeAll(stores);
        var bytesPerRow = new FileInfo(dir.Combine("out", "1_1", "test_part0", "values.bin")).Length / 1000.0;
        Assert.True(bytesPerRow <= ShardLayout.RecordSize(ValueCodecs.EncodedLength(codec, 16)) + 1);
    }

    [Fact]
    public void RowsOfDifferentDimensionAreRejectedWithFileAndOffset()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), [(1, new byte[8]), (2, new byte[12])]);
        var e = Assert.Throws<InputFormatException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1", codec: ValueCodec.F16));
        Assert.Equal($"{dir.Combine("in", "a")}: offset 120: row has 3 floats; earlier rows have 2", e.Message);
        TestTables.WriteSequenceFile(dir.Combine("in2", "a"), [(1, new byte[7])]);
        e = Assert.Throws<InputFormatException>(() => TestTables.Build(dir.Combine("in2"), dir.Combine("out"), "1", codec: ValueCodec.I8));
        Assert.Contains("offset 96: value is 7 bytes, not a float32 row", e.Message);
    }

    [Fact]
    public void BadInputLeavesNoPackageBehind()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), Enumerable.Range(0, 100).Select(i => ((ulong)i, new byte[40])));
        var good = File.ReadAllBytes(dir.Combine("in", "a"));
        File.WriteAllBytes(dir.Combine("in", "b"), good[..^10]); // truncated last record
        var e = Assert.Throws<InputFormatException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "1"));
        Assert.StartsWith($"{dir.Combine("in", "b")}: offset ", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Combine("out")));
    }

    [Fact]
    public void EmptyOrMissingInputIsNamed()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("empty"));
        File.WriteAllText(dir.Combine("empty", "_SUCCESS"), string.Empty);
        var e = Assert.Throws<InputFormatException>(() => TestTables.Build(dir.Combine("empty"), dir.Combine("out"), "1"));
        Assert.Equal($"{dir.Combine("empty")}: path: input directory holds no input files", e.Message);
        e = Assert.Throws<InputFormatException>(() => TestTables.Build(dir.Combine("nope"), dir.Combine("out"), "1"));
        Assert.Contains("input directory does not exist", e.Message);
    }

    [Fact]
    public void DeltasNeedTheirBaseAndIncreasingIds()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), [(1, [1])]);
        var e = Assert.Throws<InvalidOperationException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "11", baseId: "10"));
        Assert.Contains("base 10 of dict test is not in", e.Message);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "10");
        Assert.Throws<InvalidOperationException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "11", shards: 3, baseId: "10"));
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "12", baseId: "10");
        e = Assert.Throws<InvalidOperationException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "11", baseId: "10"));
        Assert.Contains("not newer than delta 12", e.Message);
        e = Assert.Throws<InvalidOperationException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "10"));
        Assert.Contains("already exists", e.Message);
        Assert.Throws<ArgumentException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "9", baseId: "10"));
    }

    /// <summary>A delta is stacked on its base, so it must use the base's codec.</summary>
    [Fact]
    public void ADeltaWithAnotherCodecThanItsBaseIsRefused()
    {
        using var dir = new TempDirectory();
        TestTables.WriteSequenceFile(dir.Combine("in", "a"), [(1, new byte[8]), (2, new byte[8])]);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "10", codec: ValueCodec.F16);
        var e = Assert.Throws<InvalidOperationException>(() => TestTables.Build(dir.Combine("in"), dir.Combine("out"), "11", baseId: "10", codec: ValueCodec.F32));
        Assert.Contains("base 10 was built with value codec f16; this delta asks for f32", e.Message, StringComparison.Ordinal);
        TestTables.Build(dir.Combine("in"), dir.Combine("out"), "11", baseId: "10", codec: ValueCodec.F16);
    }
}
