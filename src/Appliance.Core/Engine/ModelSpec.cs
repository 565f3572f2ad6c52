using Appliance.Core.Features;

namespace Appliance.Core.Engine;

/// <summary>
/// <c>model.json</c> of a model package: how requests become the network's inputs and which output
/// is P(click). Loading checks it against the ONNX graph (<see cref="ModelPackage"/>).
/// Properties have setters, not <c>init</c>: the JSON source generator passes every init-only
/// property to the object initializer, so a field missing from a hand-written model.json would
/// lose its default (found by ModelSpecValidationTests); with setters it keeps it.
/// </summary>
internal sealed record ModelSpec
{
    public const int CurrentFormat = 1;

    public int Format { get; set; } = CurrentFormat;

    public string Name { get; set; } = "ctr_dnn";

    /// <summary>The table the embeddings come from.</summary>
    public required string Dict { get; set; }

    /// <summary>paddle or xxh64.</summary>
    public string Hash { get; set; } = "paddle";

    /// <summary>raw/f32, f16 or i8: how the table's values decode to floats.</summary>
    public string ValueCodec { get; set; } = "f32";

    public int EmbeddingDim { get; set; } = 10;

    public int SparseSlots { get; set; } = CriteoSample.SparseCount;

    /// <summary>Field index of each slot in a labelled Criteo line (C1 = 14 …), for reference.</summary>
    public IReadOnlyList<int> SparseFields { get; set; } = Enumerable.Range(FeatureHasher.PaddleFirstField, CriteoSample.SparseCount).ToArray();

    public int DenseWidth { get; set; } = CriteoSample.DenseCount;

    public IReadOnlyList<float> DenseMin { get; set; } = DenseNormalizer.CriteoMin;

    public IReadOnlyList<float> DenseDiff { get; set; } = DenseNormalizer.CriteoDiff;

    public string EmbeddingsInput { get; set; } = Onnx.OnnxModelWriter.EmbeddingsInput;

    public string DenseInput { get; set; } = Onnx.OnnxModelWriter.DenseInput;

    public string Output { get; set; } = Onnx.OnnxModelWriter.Output;

    /// <summary>The table version (donefile id) this network was exported with, when the trainer
    /// knows it; informational.</summary>
    public string? TableVersion { get; set; }

    /// <summary>The package's version, the text of its <c>timestamp</c> file, when the exporter
    /// writes it here too. With <see cref="OnnxCrc32"/> it lets the engine tell a package read
    /// whole from one read while an exporter was rewriting it (<see cref="ModelPackage.Load"/>).</summary>
    public string? Version { get; set; }

    /// <summary>CRC-32 (IEEE, as zlib's crc32) of <c>model.onnx</c>'s bytes, 8 lowercase hex
    /// digits, when the exporter writes it: a graph from another export is refused.</summary>
    public string? OnnxCrc32 { get; set; }

    /// <summary>Column of the output holding P(click) (1 for the original 2-way softmax).</summary>
    public int ClickColumn { get; set; } = 1;
}
