namespace Appliance.Core.Engine;

/// <summary>One fully connected layer: y = act(x · W + b), W stored row-major [inputs, outputs].</summary>
internal sealed record MlpLayer(int Inputs, int Outputs, float[] Weights, float[] Bias, string Activation)
{
    public const string Relu = "relu";
    public const string Softmax = "softmax";
    public const string Sigmoid = "sigmoid";
    public const string None = "none";
}
