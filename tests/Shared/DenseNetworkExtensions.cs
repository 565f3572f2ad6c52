using Appliance.Core.Engine;
using Appliance.Core.Training;

namespace Appliance.Testing;

/// <summary>
/// Test and benchmark helpers for <see cref="DenseNetwork"/>, kept out of the product: random
/// weights, and the plain C# forward pass that the ONNX model written from a network (and the
/// engine serving it) must agree with. C# 14 extension members, so tests read
/// <c>DenseNetwork.Random(…)</c> and <c>network.Forward(…)</c>.
/// </summary>
#pragma warning disable CA1708 // the analyzer takes the two extension blocks for members differing by case
internal static class DenseNetworkExtensions
{
    extension(DenseNetwork)
    {
        /// <summary>Random weights (Normal(0, 1/√fan_in) as the original initialised them).</summary>
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
                    w[i] = (float)(std * Gaussian.Next(random));
                }

                var b = Enumerable.Range(0, outs).Select(_ => (float)((random.NextDouble() - 0.5) * 0.1)).ToArray();
                layers.Add(new MlpLayer(inputs, outs, w, b, last ? (outputs == 1 ? MlpLayer.Sigmoid : MlpLayer.Softmax) : MlpLayer.Relu));
                inputs = outs;
            }

            return new DenseNetwork(slots, embeddingDim, denseWidth, layers);
        }
    }

    extension(DenseNetwork network)
    {
        /// <summary>Scores one batch: <paramref name="embeddings"/> is [n, slots × dim],
        /// <paramref name="dense"/> is [n, denseWidth]; returns [n, outputs].</summary>
        public float[] Forward(ReadOnlySpan<float> embeddings, ReadOnlySpan<float> dense, int n)
        {
            var width = network.InputWidth;
            var x = new float[n * width];
            var embeddingWidth = network.Slots * network.EmbeddingDim;
            for (var i = 0; i < n; i++)
            {
                embeddings.Slice(i * embeddingWidth, embeddingWidth).CopyTo(x.AsSpan(i * width));
                dense.Slice(i * network.DenseWidth, network.DenseWidth).CopyTo(x.AsSpan((i * width) + embeddingWidth));
            }

            foreach (var layer in network.Layers)
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
                DenseNetwork.Softmax(row);
                break;
        }
    }
}
