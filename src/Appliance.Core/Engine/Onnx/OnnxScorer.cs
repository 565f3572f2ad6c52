using Microsoft.ML.OnnxRuntime;

namespace Appliance.Core.Engine.Onnx;

/// <summary>
/// ONNX Runtime, confined to this folder: one session per model, one intra-op thread (parallelism
/// comes from serving several requests at once; two intra-op threads were erratic on small
/// machines), inputs passed without copying.
/// </summary>
internal sealed class OnnxScorer : IDisposable
{
    private readonly InferenceSession _session;

    public OnnxScorer(byte[] model)
    {
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try
        {
            _session = new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime refused the model: {e.Message}", e);
        }

        Inputs = _session.InputMetadata.ToDictionary(kv => kv.Key, kv => kv.Value.Dimensions.ToArray());
        Outputs = _session.OutputMetadata.ToDictionary(kv => kv.Key, kv => kv.Value.Dimensions.ToArray());
    }

    /// <summary>Input names and shapes as the graph declares them (−1 for a symbolic dimension).</summary>
    public IReadOnlyDictionary<string, int[]> Inputs { get; }

    public IReadOnlyDictionary<string, int[]> Outputs { get; }

    /// <summary>Runs one batch of <paramref name="n"/> rows; returns the output tensor's values.</summary>
    public float[] Score(string embeddingsName, float[] embeddings, int embeddingWidth, string denseName, float[] dense, int denseWidth, string outputName, int n) =>
        Score(embeddingsName, embeddings.AsMemory(), embeddingWidth, denseName, dense.AsMemory(), denseWidth, outputName, n);

    /// <summary>As above, over exactly n × width values of each memory (pooled buffers may be longer).</summary>
    public float[] Score(string embeddingsName, Memory<float> embeddings, int embeddingWidth, string denseName, Memory<float> dense, int denseWidth, string outputName, int n)
    {
        using var e = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, embeddings[..(n * embeddingWidth)], [n, embeddingWidth]);
        using var d = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, dense[..(n * denseWidth)], [n, denseWidth]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [embeddingsName, denseName], [e, d], [outputName]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
