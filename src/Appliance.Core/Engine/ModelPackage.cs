using System.Text.Json;
using Appliance.Core.Engine.Onnx;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>
/// A model package directory: <c>model.onnx</c>, <c>model.json</c> (<see cref="ModelSpec"/>) and a
/// <c>timestamp</c> file whose change triggers a reload. <see cref="Load"/> refuses a package whose
/// spec and graph disagree, naming the mismatch, so a bad package never replaces a good one.
/// <para>An exporter rewrites the three files one by one (each atomically, the timestamp last), so
/// a load that overlaps an export can read a graph of one export and a spec or timestamp of
/// another: scores of one network answered under another's version (found by the continuous
/// prediction test with patches a few hundred milliseconds apart). A package whose
/// <c>model.json</c> carries <c>version</c> and <c>onnx_crc32</c> (ours and cube_export.py's do)
/// is loaded only when the three files are of one export; otherwise it is read again, and after
/// three reads <see cref="ModelPackageChangingException"/> (the watcher tries again on its next tick).</para>
/// </summary>
internal sealed class ModelPackage : IDisposable
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

    /// <summary>Loads the package; a read that overlapped an export is repeated (three reads,
    /// 50 ms apart) before <see cref="ModelPackageChangingException"/> is thrown.</summary>
    public static ModelPackage Load(string directory)
    {
        const int Attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return LoadOnce(directory);
            }
            catch (ModelPackageChangingException) when (attempt < Attempts)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static ModelPackage LoadOnce(string directory)
    {
        var stampBefore = ReadTimestamp(directory);
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

        var timestamp = ReadTimestamp(directory);
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
            // After the parse (a file replaced by rename is never torn: a graph ONNX Runtime
            // refuses is corrupt, and says so), before the shapes (another export's may differ).
            CheckOneExport(directory, spec, onnx, stampBefore, timestamp);
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

            return new ModelPackage(directory, spec, scorer, hash, codec, timestamp);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    /// <summary>Writes a package (ONNX from <paramref name="network"/>, spec, timestamp), each file
    /// replaced atomically, timestamp last so a watcher never reloads a half-written package; the
    /// spec names the version and the graph's CRC so a load overlapping the next export is told.</summary>
    public static void Write(string directory, DenseNetwork network, ModelSpec spec, string timestamp)
    {
        System.IO.Directory.CreateDirectory(directory);
        var onnx = OnnxModelWriter.Write(network);
        AtomicFile.Write(Path.Combine(directory, OnnxFile), onnx);
        var stamped = spec with { Version = timestamp, OnnxCrc32 = Crc32Text(onnx) };
        AtomicFile.Write(Path.Combine(directory, SpecFile), JsonSerializer.SerializeToUtf8Bytes(stamped, EngineJsonContext.Default.ModelSpec));
        AtomicFile.Write(Path.Combine(directory, TimestampFile), System.Text.Encoding.UTF8.GetBytes(timestamp + "\n"));
    }

    public void Dispose() => Scorer.Dispose();

    /// <summary>The timestamp file's text, trimmed; empty when there is none.</summary>
    public static string ReadTimestamp(string directory)
    {
        var path = Path.Combine(directory, TimestampFile);
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : string.Empty;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read: {e.Message}");
        }
    }

    /// <summary>Throws <see cref="ModelPackageChangingException"/> unless the files read are of one
    /// export: the timestamp unchanged across the read, and, where the spec names them, its version
    /// the timestamp's and its CRC the graph's.</summary>
    private static void CheckOneExport(string directory, ModelSpec spec, byte[] onnx, string stampBefore, string stampAfter)
    {
        string? problem = null;
        if (stampBefore != stampAfter)
        {
            problem = $"timestamp changed from '{stampBefore}' to '{stampAfter}' while it was read";
        }
        else if (spec.Version is { } version && version != stampAfter)
        {
            problem = $"model.json is of version '{version}', timestamp says '{stampAfter}'";
        }
        else if (spec.OnnxCrc32 is { } crc && !string.Equals(crc, Crc32Text(onnx), StringComparison.OrdinalIgnoreCase))
        {
            problem = $"model.onnx's CRC-32 is {Crc32Text(onnx)}, model.json's onnx_crc32 says {crc}";
        }

        if (problem is not null)
        {
            throw new ModelPackageChangingException($"{directory}: the package is being rewritten or its files are of different exports ({problem}); read again on the next tick");
        }
    }

    private static string Crc32Text(ReadOnlySpan<byte> bytes) =>
        System.IO.Hashing.Crc32.HashToUInt32(bytes).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

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
