namespace Appliance.Core.Training;

/// <summary>Adagrad for the sparse rows: G += g²; w −= lr · g / √G (G starts at 0.1, as in
/// TensorFlow and Paddle, so the first steps are not huge).</summary>
internal static class Adagrad
{
    public const float InitialAccumulator = 0.1f;

    public static void Update(Span<float> weights, Span<float> accumulators, ReadOnlySpan<float> gradient, float learningRate)
    {
        for (var d = 0; d < weights.Length; d++)
        {
            var g = gradient[d];
            var sum = accumulators[d] + (g * g);
            accumulators[d] = sum;
            weights[d] -= learningRate * g / MathF.Sqrt(sum);
        }
    }
}
