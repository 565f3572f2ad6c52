using System.Text.Json;
using Appliance.Core.Engine.Onnx;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>
/// A model package directory: <c>model.onnx</c>, <c>model.json</c> (<see cref="ModelSpec"/>) and a
/// <c>timestamp</c> file whose change triggers a reload. <see cref="Load"/> refuses a package whose
/// spec and graph disagree, naming the mismatch, so a bad package never replaces a good one.
/// </summary>
public sealed class ModelPackage : IDisposable
{
    public const string OnnxFile = "model.onnx";
    public const string SpecFile = "model.json";
    public const string TimestampFile = "timestamp";

    private ModelPackage(string directory, ModelSpec spec, OnnxScorer scorer, HashScheme hash, ValueCodec codec, string timestamp)
    {
        Directory = directory;
        Spec = spec;
        Scorer = scorer;
        Hash = hash;
        Codec = codec;
        Timestamp = timestamp;
        Normalizer = new DenseNormalizer(spec.DenseMin, spec.DenseDiff);
    }

    public string Directory { get; }

    public ModelSpec Spec { get; }

    public OnnxScorer Scorer { get; }

    public HashScheme Hash { get; }

    public ValueCodec Codec { get; }

    public DenseNormalizer Normalizer { get; }

    /// <summary>Content of the timestamp file when loaded (the package's version).</summary>
    public string Timestamp { get; }

    public static ModelPackage Load(string directory)
    {
        var spec = ReadSpec(directory);
        var specPath = Path.Combine(directory, SpecFile);
        if (!FeatureHasher.TryParse(spec.Hash, out var hash))
        {
            throw new InputFormatException(specPath, "field hash", $"'{spec.Hash}' is not paddle or xxh64");
        }

        if (!ValueCodecs.TryParse(spec.ValueCodec, out var codec))
        {
            throw new InputFormatException(specPath, "field value_codec", $"'{spec.ValueCodec}' is not raw, f32, f16 or i8");
        }

        if (spec.DenseMin.Count != spec.DenseWidth || spec.DenseDiff.Count != spec.DenseWidth || spec.DenseDiff.Any(d => d == 0))
        {
            throw new InputFormatException(specPath, "field dense_min/dense_diff", $"need {spec.DenseWidth} values each (dense_width), diff never 0");
        }

        var onnxPath = Path.Combine(directory, OnnxFile);
        byte[] onnx;
        try
        {
            onnx = File.ReadAllBytes(onnxPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(onnxPath, "offset 0", $"cannot read: {e.Message}");
        }

        OnnxScorer scorer;
        try
        {
            scorer = new OnnxScorer(onnx);
        }
        catch (InvalidDataException e)
        {
            throw new InputFormatException(onnxPath, "offset 0", e.Message);
        }

        try
        {
            Check(scorer.Inputs, spec.EmbeddingsInput, spec.SparseSlots * spec.EmbeddingDim, "input", "sparse_slots × embedding_dim", onnxPath);
            Check(scorer.Inputs, spec.DenseInput, spec.DenseWidth, "input", "dense_width", onnxPath);
            if (!scorer.Outputs.TryGetValue(spec.Output, out var outputShape))
            {
                throw new InputFormatException(onnxPath, "graph outputs", $"model.json names output '{spec.Output}'; the graph has {string.Join(", ", scorer.Outputs.Keys)}");
            }

            if (outputShape.Length != 2 || spec.ClickColumn < 0 || spec.ClickColumn >= outputShape[1])
            {
                throw new InputFormatException(onnxPath, "graph outputs", $"output '{spec.Output}' has shape [{string.Join(", ", outputShape)}]; click_column {spec.ClickColumn} is not one of its columns");
            }

            var timestampPath = Path.Combine(directory, TimestampFile);
            var timestamp = File.Exists(timestampPath) ? File.ReadAllText(timestampPath).Trim() : string.Empty;
            return new ModelPackage(directory, spec, scorer, hash, codec, timestamp);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    /// <summary>Writes a package (ONNX from <paramref name="network"/>, spec, timestamp), each file
    /// replaced atomically, timestamp last so a watcher never reloads a half-written package.</summary>
    public static void Write(string directory, DenseNetwork network, ModelSpec spec, string timestamp)
    {
        System.IO.Directory.CreateDirectory(directory);
        AtomicFile.Write(Path.Combine(directory, OnnxFile), OnnxModelWriter.Write(network));
        AtomicFile.Write(Path.Combine(directory, SpecFile), JsonSerializer.SerializeToUtf8Bytes(spec, EngineJsonContext.Default.ModelSpec));
        AtomicFile.Write(Path.Combine(directory, TimestampFile), System.Text.Encoding.UTF8.GetBytes(timestamp + "\n"));
    }

    public void Dispose() => Scorer.Dispose();

    /// <summary>Only <c>model.json</c> (cheap: no ONNX session).</summary>
    public static ModelSpec ReadSpec(string directory)
    {
        var specPath = Path.Combine(directory, SpecFile);
        try
        {
            var spec = JsonSerializer.Deserialize(File.ReadAllBytes(specPath), EngineJsonContext.Default.ModelSpec)
                ?? throw new InputFormatException(specPath, "offset 0", "empty");
            Validate(spec, specPath);
            return spec;
        }
        catch (JsonException e)
        {
            throw new InputFormatException(specPath, $"line {(e.LineNumber ?? 0) + 1}", $"not a model spec: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(specPath, "offset 0", $"cannot read: {e.Message}");
        }
    }

    /// <summary>What the engine can serve: every field present (JSON <c>null</c> is refused, not
    /// taken for a default), and the input widths the feature parser produces (a Criteo sample:
    /// 26 sparse slots, 13 dense values). The graph is checked against the spec in <see cref="Load"/>.</summary>
    private static void Validate(ModelSpec spec, string path)
    {
        static void Present(object? value, string field, string path)
        {
            if (value is null)
            {
                throw new InputFormatException(path, $"field {field}", "is null; give a value or leave the field out for its default");
            }
        }

        Present(spec.Dict, "dict", path);
        Present(spec.Hash, "hash", path);
        Present(spec.ValueCodec, "value_codec", path);
        Present(spec.SparseFields, "sparse_fields", path);
        Present(spec.DenseMin, "dense_min", path);
        Present(spec.DenseDiff, "dense_diff", path);
        Present(spec.EmbeddingsInput, "embeddings_input", path);
        Present(spec.DenseInput, "dense_input", path);
        Present(spec.Output, "output", path);
        if (spec.SparseSlots != CriteoSample.SparseCount)
        {
            throw new InputFormatException(path, "field sparse_slots", $"{spec.SparseSlots}: the engine reads Criteo samples, {CriteoSample.SparseCount} sparse slots each");
        }

        if (spec.DenseWidth != CriteoSample.DenseCount)
        {
            throw new InputFormatException(path, "field dense_width", $"{spec.DenseWidth}: the engine reads Criteo samples, {CriteoSample.DenseCount} dense values each");
        }

        if (spec.EmbeddingDim is < 1 or > 4096)
        {
            throw new InputFormatException(path, "field embedding_dim", $"{spec.EmbeddingDim} is not between 1 and 4096");
        }
    }

    private static void Check(IReadOnlyDictionary<string, int[]> declared, string name, int width, string what, string field, string path)
    {
        if (!declared.TryGetValue(name, out var shape))
        {
            throw new InputFormatException(path, $"graph {what}s", $"model.json names {what} '{name}'; the graph has {string.Join(", ", declared.Keys)}");
        }

        if (shape.Length != 2 || shape[1] != width)
        {
            throw new InputFormatException(path, $"graph {what}s", $"{what} '{name}' has shape [{string.Join(", ", shape)}]; model.json's {field} = {width} needs [N, {width}]");
        }
    }
}
