using System.Runtime.Intrinsics;

namespace Appliance.Core.Training;

/// <summary>
/// One trainable fully connected layer, W row-major [inputs × outputs] (the layout
/// <see cref="Engine.MlpLayer"/> and the ONNX writer use), with Adam's moment estimates for W and b.
/// Threads update it without locks (Hogwild).
/// </summary>
internal sealed class DenseLayer
{
    /// <summary>Weights drawn from Normal(0, 1/√fan_in), biases zero; with no
    /// <paramref name="random"/>, all zero (to be filled from a checkpoint).</summary>
    public DenseLayer(int inputs, int outputs, Random? random)
    {
        Inputs = inputs;
        Outputs = outputs;
        Weights = new float[inputs * outputs];
        Bias = new float[outputs];
        WeightMoments = (new float[Weights.Length], new float[Weights.Length]);
        BiasMoments = (new float[outputs], new float[outputs]);
        if (random is null)
        {
            return;
        }

        var std = 1.0 / Math.Sqrt(inputs); // Normal(0, 1/√fan_in), as the original initialised
        for (var i = 0; i < Weights.Length; i++)
        {
            Weights[i] = (float)(std * Gaussian.Next(random));
        }
    }

    public int Inputs { get; }

    public int Outputs { get; }

    public float[] Weights { get; }

    public float[] Bias { get; }

    public (float[] First, float[] Second) WeightMoments { get; }

    public (float[] First, float[] Second) BiasMoments { get; }

    /// <summary>Moments below this are set to zero. A weight whose gradient stays zero (an input
    /// that is always 0, a dead ReLU) has moments that decay geometrically into the subnormal
    /// range, where every x86 float operation on them costs ~100 cycles: training speed halved
    /// unpredictably before this flush. (.NET has no API for the CPU's flush-to-zero mode.)</summary>
    private const float Tiny = 1e-30f;

    public static void Adam(Span<float> weights, Span<float> first, Span<float> second, ReadOnlySpan<float> gradient, float learningRate, long step)
    {
        const float Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f;
        var correction1 = 1 - MathF.Pow(Beta1, step);
        var correction2 = 1 - MathF.Pow(Beta2, step);
        var rate = learningRate * MathF.Sqrt(correction2) / correction1;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var b1 = Vector256.Create(Beta1);
            var b2 = Vector256.Create(Beta2);
            var c1 = Vector256.Create(1 - Beta1);
            var c2 = Vector256.Create(1 - Beta2);
            var r = Vector256.Create(rate);
            var e = Vector256.Create(Epsilon);
            var tiny = Vector256.Create(Tiny);
            for (; i + 8 <= weights.Length; i += 8)
            {
                var g = Vector256.Create(gradient.Slice(i, 8));
                var m = (b1 * Vector256.Create(first.Slice(i, 8))) + (c1 * g);
                var v = (b2 * Vector256.Create(second.Slice(i, 8))) + (c2 * g * g);
                m &= Vector256.GreaterThan(Vector256.Abs(m), tiny).AsSingle();
                v &= Vector256.GreaterThan(v, tiny).AsSingle();
                m.CopyTo(first.Slice(i, 8));
                v.CopyTo(second.Slice(i, 8));
                (Vector256.Create(weights.Slice(i, 8)) - (r * m / (Vector256.Sqrt(v) + e))).CopyTo(weights.Slice(i, 8));
            }
        }

        for (; i < weights.Length; i++)
        {
            var g = gradient[i];
            first[i] = (Beta1 * first[i]) + ((1 - Beta1) * g);
            second[i] = (Beta2 * second[i]) + ((1 - Beta2) * g * g);
            first[i] = MathF.Abs(first[i]) > Tiny ? first[i] : 0;
            second[i] = second[i] > Tiny ? second[i] : 0;
            weights[i] -= rate * first[i] / (MathF.Sqrt(second[i]) + Epsilon);
        }
    }
}
