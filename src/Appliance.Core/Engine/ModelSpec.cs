namespace Appliance.Core.Engine;

/// <summary>
/// <c>model.json</c> of a model package: how requests become the network's inputs and which output
/// is P(click). Loading checks it against the ONNX graph (<see cref="ModelPackage"/>).
/// </summary>
public sealed record ModelSpec
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    public string Name { get; init; } = "ctr_dnn";

    /// <summary>The table the embeddings come from.</summary>
    public required string Dict { get; init; }

    /// <summary>paddle or xxh64.</summary>
    public string Hash { get; init; } = "paddle";

    /// <summary>raw/f32, f16 or i8: how the table's values decode to floats.</summary>
    public string ValueCodec { get; init; } = "f32";

    public int EmbeddingDim { get; init; } = 10;

    public int SparseSlots { get; init; } = CriteoSample.SparseCount;

    /// <summary>Field index of each slot in a labelled Criteo line (C1 = 14 …), for reference.</summary>
    public IReadOnlyList<int> SparseFields { get; init; } = Enumerable.Range(FeatureHasher.PaddleFirstField, CriteoSample.SparseCount).ToArray();

    public int DenseWidth { get; init; } = CriteoSample.DenseCount;

    public IReadOnlyList<float> DenseMin { get; init; } = DenseNormalizer.CriteoMin;

    public IReadOnlyList<float> DenseDiff { get; init; } = DenseNormalizer.CriteoDiff;

    public string EmbeddingsInput { get; init; } = Onnx.OnnxModelWriter.EmbeddingsInput;

    public string DenseInput { get; init; } = Onnx.OnnxModelWriter.DenseInput;

    public string Output { get; init; } = Onnx.OnnxModelWriter.Output;

    /// <summary>The table version (donefile id) this network was exported with, when the trainer
    /// knows it; informational.</summary>
    public string? TableVersion { get; init; }

    /// <summary>Column of the output holding P(click) (1 for the original 2-way softmax).</summary>
    public int ClickColumn { get; init; } = 1;
}
