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

    /// <summary>One for every run (ORT reads it; nothing here sets it): a new one per batch was
    /// allocated and finalised every time.</summary>
    private readonly RunOptions _runOptions = new();

    /// <summary>The names of the last run (a model's are always the same), kept so a run does not
    /// build its name lists again; replaced whole, so concurrent runs never see half of one.</summary>
    private RunNames? _names;

    private sealed record RunNames(string[] Inputs, string[] Outputs);

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
        var output = new float[n * OutputWidth(outputName)];
        Score(embeddingsName, embeddings, embeddingWidth, denseName, dense, denseWidth, outputName, n, output);
        return output;
    }

    /// <summary>Runs one batch of <paramref name="n"/> rows into <paramref name="output"/> (n × the
    /// output's width values, e.g. a pooled buffer): ORT writes the scores there, nothing is
    /// allocated for them.</summary>
    public void Score(string embeddingsName, Memory<float> embeddings, int embeddingWidth, string denseName, Memory<float> dense, int denseWidth, string outputName, int n, Memory<float> output)
    {
        var width = OutputWidth(outputName);
        using var e = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, embeddings[..(n * embeddingWidth)], [n, embeddingWidth]);
        using var d = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, dense[..(n * denseWidth)], [n, denseWidth]);
        using var o = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output[..(n * width)], [n, width]);
        var names = Volatile.Read(ref _names);
        if (names is null || names.Inputs[0] != embeddingsName || names.Inputs[1] != denseName || names.Outputs[0] != outputName)
        {
            names = new RunNames([embeddingsName, denseName], [outputName]);
            Volatile.Write(ref _names, names);
        }

        _session.Run(_runOptions, names.Inputs, [e, d], names.Outputs, [o]);
    }

    /// <summary>Values per row of an output: its last dimension (2 for a softmax over click / no
    /// click, 1 for a sigmoid).</summary>
    public int OutputWidth(string outputName) =>
        Outputs.TryGetValue(outputName, out var shape) && shape.Length == 2 && shape[1] > 0 ? shape[1] : throw new InvalidDataException($"output '{outputName}' is not [N, k] with a fixed k");

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
