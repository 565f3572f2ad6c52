namespace Appliance.Core.Engine;

/// <summary>
/// The CTR-DNN's dense part (reference/ctr.md §1.4): the 26 slot embeddings (slot-major) and the
/// dense features are concatenated, in that order, and run through fully connected layers.
/// <see cref="Forward"/> is the plain C# computation the ONNX model must agree with.
/// </summary>
public sealed class DenseNetwork(int slots, int embeddingDim, int denseWidth, IReadOnlyList<MlpLayer> layers)
{
    public int Slots { get; } = slots;

    public int EmbeddingDim { get; } = embeddingDim;

    public int DenseWidth { get; } = denseWidth;

    public int InputWidth => (Slots * EmbeddingDim) + DenseWidth;

    public IReadOnlyList<MlpLayer> Layers { get; } = layers;

    public int OutputWidth => Layers[^1].Outputs;

    /// <summary>Random weights (Normal(0, 1/√fan_in) as the original initialised them) for tests
    /// and benchmarks.</summary>
    public static DenseNetwork Random(int seed, int slots = 26, int embeddingDim = 10, int denseWidth = 13, int hidden = 400, int hiddenLayers = 3, int outputs = 2)
    {
        var random = new Random(seed);
        var layers = new List<MlpLayer>();
        var inputs = (slots * embeddingDim) + denseWidth;
        for (var l = 0; l <= hiddenLayers; l++)
        {
            var last = l == hiddenLayers;
            var outs = last ? outputs : hidden;
            var w = new float[inputs * outs];
            var std = 1.0 / Math.Sqrt(inputs);
            for (var i = 0; i < w.Length; i++)
            {
                w[i] = (float)(std * Training.Gaussian.Next(random));
            }

            var b = Enumerable.Range(0, outs).Select(_ => (float)((random.NextDouble() - 0.5) * 0.1)).ToArray();
            layers.Add(new MlpLayer(inputs, outs, w, b, last ? (outputs == 1 ? MlpLayer.Sigmoid : MlpLayer.Softmax) : MlpLayer.Relu));
            inputs = outs;
        }

        return new DenseNetwork(slots, embeddingDim, denseWidth, layers);
    }

    /// <summary>Scores one batch: <paramref name="embeddings"/> is [n, slots × dim], <paramref name="dense"/>
    /// is [n, denseWidth]; returns [n, outputs].</summary>
    public float[] Forward(ReadOnlySpan<float> embeddings, ReadOnlySpan<float> dense, int n)
    {
        var width = InputWidth;
        var x = new float[n * width];
        var embeddingWidth = Slots * EmbeddingDim;
        for (var i = 0; i < n; i++)
        {
            embeddings.Slice(i * embeddingWidth, embeddingWidth).CopyTo(x.AsSpan(i * width));
            dense.Slice(i * DenseWidth, DenseWidth).CopyTo(x.AsSpan((i * width) + embeddingWidth));
        }

        foreach (var layer in Layers)
        {
            var y = new float[n * layer.Outputs];
            for (var i = 0; i < n; i++)
            {
                var row = y.AsSpan(i * layer.Outputs, layer.Outputs);
                layer.Bias.CopyTo(row);
                for (var k = 0; k < layer.Inputs; k++)
                {
                    var xk = x[(i * layer.Inputs) + k];
                    var w = layer.Weights.AsSpan(k * layer.Outputs, layer.Outputs);
                    for (var j = 0; j < row.Length; j++)
                    {
                        row[j] += xk * w[j];
                    }
                }

                Activate(layer.Activation, row);
            }

            x = y;
        }

        return x;
    }

    private static void Activate(string activation, Span<float> row)
    {
        switch (activation)
        {
            case MlpLayer.Relu:
                for (var j = 0; j < row.Length; j++)
                {
                    row[j] = Math.Max(0, row[j]);
                }

                break;
            case MlpLayer.Sigmoid:
                for (var j = 0; j < row.Length; j++)
                {
                    row[j] = 1f / (1f + MathF.Exp(-row[j]));
                }

                break;
            case MlpLayer.Softmax:
                Softmax(row);
                break;
        }
    }

    /// <summary>In place, shifted by the row's maximum so exp never overflows.</summary>
    internal static void Softmax(Span<float> row)
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
