using Appliance.Core.Engine;
using Appliance.Core.Engine.Onnx;
using Appliance.Core.Features;

namespace Appliance.Core.Tests.Engine;

/// <summary>An ONNX model written from C# and run by ONNX Runtime scores exactly what the plain C#
/// forward pass of the same weights scores, on the real Criteo sample's features.</summary>
public sealed class OnnxModelWriterTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void OnnxRuntimeAgreesWithThePlainForwardPass(int outputs)
    {
        var network = DenseNetwork.Random(seed: 7, outputs: outputs);
        using var scorer = new OnnxScorer(OnnxModelWriter.Write(network));
        Assert.Equal([-1, 260], scorer.Inputs[OnnxModelWriter.EmbeddingsInput]);
        Assert.Equal([-1, 13], scorer.Inputs[OnnxModelWriter.DenseInput]);
        Assert.Equal([-1, outputs], scorer.Outputs[OnnxModelWriter.Output]);

        // Features of the 1000 real samples; embeddings drawn from a table keyed by their paddle ids.
        var lines = File.ReadAllLines(TestData.CriteoSample);
        var n = lines.Length;
        var dense = new float[n * 13];
        var embeddings = new float[n * 260];
        for (var i = 0; i < n; i++)
        {
            var sample = CriteoSample.Parse(lines[i]);
            DenseNormalizer.Criteo.Normalize(sample.Dense, dense.AsSpan(i * 13, 13));
            for (var s = 0; s < 26; s++)
            {
                var random = new Random((int)FeatureHasher.PaddleKey(s, sample.Sparse[s]));
                for (var d = 0; d < 10; d++)
                {
                    embeddings[(i * 260) + (s * 10) + d] = (random.NextSingle() * 2) - 1;
                }
            }
        }

        var expected = network.Forward(embeddings, dense, n);
        var actual = scorer.Score(OnnxModelWriter.EmbeddingsInput, embeddings, 260, OnnxModelWriter.DenseInput, dense, 13, OnnxModelWriter.Output, n);
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-5, $"largest difference {worst}");
        Assert.True(expected.Distinct().Count() > n / 2); // the scores really differ per sample
    }

    [Fact]
    public void ACorruptModelIsRefusedWithAMessage()
    {
        var bytes = OnnxModelWriter.Write(DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1));
        var e = Assert.Throws<InvalidDataException>(() => new OnnxScorer(bytes[..(bytes.Length / 2)]));
        Assert.Contains("ONNX Runtime refused the model", e.Message);
    }
}
