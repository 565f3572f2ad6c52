using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Training;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Training;

/// <summary>
/// The trainer's inner loop on one thread, 273→400→400→400→2, one 64-sample minibatch of generated
/// rows: a training step (forward, backward, Adam, Adagrad) and a forward pass with the blocked AVX
/// GEMM, beside the plain C# forward pass the engine's tests use as reference
/// (<see cref="DenseNetwork.Forward"/>, the baseline).
/// </summary>
public class TrainerBenchmarks
{
    private const int Batch = 64;

    private EncodedSamples _samples = null!;
    private CtrTrainer _trainer = null!;
    private DenseNetwork _network = null!;
    private float[] _embeddings = null!;
    private float[] _dense = null!;
    private string _directory = null!;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"cube-train-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, "data.tsv");
        GeneratedData.Write(path, Batch + 1, seed: 1);
        var state = TrainerState.Create(HashScheme.Paddle, 10, [400, 400, 400], seed: 1);
        _samples = TrainingData.Load(path, 0, HashScheme.Paddle, state.Table).Train;
        _trainer = new CtrTrainer(state, new TrainerSettings { Threads = 1, BatchSize = Batch });
        _network = state.ToNetwork();
        _embeddings = new float[Batch * 260];
        _dense = _samples.Dense[..(Batch * 13)];
        for (var i = 0; i < Batch * 26; i++)
        {
            state.Table.Row(_samples.Rows[i]).CopyTo(_embeddings.AsSpan(i * 10, 10));
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true, Description = "plain C# forward (DenseNetwork.Forward)")]
    public float[] PlainForward() => _network.Forward(_embeddings, _dense, Batch);

    [Benchmark(Description = "trainer forward (blocked GEMM)")]
    public float[] TrainerForward() => _trainer.Predict(_samples);

    [Benchmark(Description = "trainer step (forward + backward + updates)")]
    public double TrainerStep() => _trainer.TrainEpoch(_samples, 1);
}
