using Appliance.Core.Engine;
using Appliance.Core.Formats;
using Microsoft.Extensions.Logging.Abstractions;

namespace Appliance.Core.Tests.Engine;

/// <summary>A model.json the engine cannot serve is refused with the field named,
/// at start and on reload, and the watcher keeps the live model and keeps watching.</summary>
public sealed class ModelSpecValidationTests
{
    [Theory]
    [InlineData("\"dense_min\": null", "dense_min")]
    [InlineData("\"dict\": null", "dict")]
    [InlineData("\"sparse_slots\": 52, \"embedding_dim\": 5", "sparse_slots")]
    [InlineData("\"dense_width\": 12", "dense_width")]
    [InlineData("\"embedding_dim\": 0", "embedding_dim")]
    public void ASpecTheEngineCannotServeIsRefusedWithItsFieldNamed(string fields, string field)
    {
        using var dir = new TempDirectory();
        WriteSpec(dir.Path, fields);
        var e = Assert.Throws<InputFormatException>(() => ModelPackage.ReadSpec(dir.Path));
        Assert.True(e.Message.Contains($"field {field}", StringComparison.Ordinal), e.Message);
        Assert.Contains("model.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadPackageOnReloadIsCountedAndTheNextGoodOneIsLoaded()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d" }, "1");
        await using var variant = new ModelVariant("m", dir.Path, 1, new NoTable(), NullLogger.Instance, maxBatch: 8, runners: 1);

        WriteSpec(dir.Path, "\"dense_min\": null");
        File.WriteAllText(Path.Combine(dir.Path, ModelPackage.TimestampFile), "2\n");
        Assert.False(variant.ReloadIfChanged());
        Assert.Equal(1, variant.ReloadFailures);
        Assert.Equal("1", variant.Engine.Model.Timestamp); // the live one keeps serving
        Assert.Contains("dense_min", variant.LastReloadError, StringComparison.Ordinal);

        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 2, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d" }, "3");
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal("3", variant.Engine.Model.Timestamp);
    }

    /// <summary>The exporter replaces model.onnx, model.json and timestamp one at a time; a load
    /// in between must not take one export's graph with another's spec or version.</summary>
    [Fact]
    public void APackageWhoseFilesAreOfTwoExportsIsNotLoaded()
    {
        using var dir = new TempDirectory();
        using var next = new TempDirectory();
        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d", TableVersion = "1" }, "1");
        ModelPackage.Write(next.Path, DenseNetwork.Random(seed: 2, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d", TableVersion = "2" }, "2");
        using (var whole = ModelPackage.Load(dir.Path))
        {
            Assert.Equal("1", whole.Timestamp);
        }

        // The next export's graph is in, its spec and timestamp not yet.
        File.Copy(Path.Combine(next.Path, ModelPackage.OnnxFile), Path.Combine(dir.Path, ModelPackage.OnnxFile), overwrite: true);
        var graph = Assert.Throws<ModelPackageChangingException>(() => ModelPackage.Load(dir.Path));
        Assert.Contains("onnx_crc32", graph.Message, StringComparison.Ordinal);

        // Graph and spec in, timestamp not yet: whole, but not the version the timestamp names.
        File.Copy(Path.Combine(next.Path, ModelPackage.SpecFile), Path.Combine(dir.Path, ModelPackage.SpecFile), overwrite: true);
        var version = Assert.Throws<ModelPackageChangingException>(() => ModelPackage.Load(dir.Path));
        Assert.Contains("version '2'", version.Message, StringComparison.Ordinal);

        File.Copy(Path.Combine(next.Path, ModelPackage.TimestampFile), Path.Combine(dir.Path, ModelPackage.TimestampFile), overwrite: true);
        using var loaded = ModelPackage.Load(dir.Path);
        Assert.Equal("2", loaded.Timestamp);
    }

    /// <summary>Read mid-export once, the watcher tries again next tick without counting a
    /// failure; a package that still disagrees with itself then is refused and counted.</summary>
    [Fact]
    public async Task APackageStillOfTwoExportsOnTheNextTickIsRefused()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "d" }, "1");
        await using var variant = new ModelVariant("m", dir.Path, 1, new NoTable(), NullLogger.Instance, maxBatch: 8, runners: 1);

        File.WriteAllText(Path.Combine(dir.Path, ModelPackage.TimestampFile), "2\n");
        Assert.True(variant.ReloadIfChanged());
        Assert.Equal(0, variant.ReloadFailures);
        Assert.False(variant.ReloadIfChanged());
        Assert.Equal(1, variant.ReloadFailures);
        Assert.Contains("version '1'", variant.LastReloadError, StringComparison.Ordinal);
        Assert.Equal("1", variant.Engine.Model.Timestamp);
    }

    private static void WriteSpec(string dir, string fields) =>
        File.WriteAllText(Path.Combine(dir, ModelPackage.SpecFile), "{\"dict\": \"d\", " + fields + "}");

    private sealed class NoTable : IEmbeddingSource
    {
        public string? ServedVersion => null;

        public Task<TableSpan> GatherAsync(ReadOnlyMemory<ulong> keys, Memory<float> vectors, int dim, Core.Storage.ValueCodec codec, Memory<bool> found, CancellationToken cancellationToken) => Task.FromResult(TableSpan.None);

        public Task RefreshVersionsAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
