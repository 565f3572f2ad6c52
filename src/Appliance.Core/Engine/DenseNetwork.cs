namespace Appliance.Core.Engine;

/// <summary>
/// The CTR-DNN's dense part: the 26 slot embeddings (slot-major) and the
/// dense features are concatenated, in that order, and run through fully connected layers. The
/// trainer fills it and <see cref="Onnx.OnnxModelWriter"/> writes it; the tests' plain C# forward
/// pass (tests/Shared) is what the ONNX model must agree with.
/// </summary>
internal sealed class DenseNetwork(int slots, int embeddingDim, int denseWidth, IReadOnlyList<MlpLayer> layers)
{
    public int Slots { get; } = slots;

    public int EmbeddingDim { get; } = embeddingDim;

    public int DenseWidth { get; } = denseWidth;

    public int InputWidth => (Slots * EmbeddingDim) + DenseWidth;

    public IReadOnlyList<MlpLayer> Layers { get; } = layers;

    public int OutputWidth => Layers[^1].Outputs;

    /// <summary>In place, shifted by the row's maximum so exp never overflows.</summary>
    public static void Softmax(Span<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var v in row)
        {
            max = Math.Max(max, v);
        }

        var sum = 0f;
        for (var j = 0; j < row.Length; j++)
        {
            row[j] = MathF.Exp(row[j] - max);
            sum += row[j];
        }

        for (var j = 0; j < row.Length; j++)
        {
            row[j] /= sum;
        }
    }
}
