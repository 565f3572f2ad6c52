using System.Text.Json;
using Appliance.Core.Engine;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Engine;

/// <summary>
/// The engine's per-request HTTP work outside the network: a <c>POST /predict</c> body of real
/// Criteo lines read (counted against the sample cap, then deserialized) and the answer written,
/// at the batch sizes bench/engine-http.sh sends.
/// </summary>
[MemoryDiagnoser]
public class PredictBodyBenchmarks
{
    private byte[] _body = null!;
    private PredictResponse _response = null!;

    [Params(32, 256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var sample = File.ReadAllLines(Path.Combine(EngineFixture.RepositoryRoot(), "tests", "data", "criteo-sample-1000.txt"));
        var lines = Enumerable.Range(0, Batch).Select(i => sample[(i * 37) % sample.Length]).ToList();
        _body = JsonSerializer.SerializeToUtf8Bytes(new PredictRequest { Lines = lines }, EngineJsonContext.Default.PredictRequest);
        _response = new PredictResponse { ModelVersion = "1", Variant = "model", Scores = lines.Select((_, i) => (float?)(i / 1000f)).ToList(), Errors = new string?[Batch] };
    }

    [Benchmark(Baseline = true)]
    public int Read()
    {
        using var input = PredictBody.Read(_body, 10_000);
        return input.Samples.Count;
    }

    [Benchmark]
    public int Count() => PredictBody.CountSamples(_body, 10_000);

    [Benchmark]
    public object? Deserialize() => JsonSerializer.Deserialize(_body, EngineJsonContext.Default.PredictRequest);

    [Benchmark]
    public byte[] WriteResponse() => JsonSerializer.SerializeToUtf8Bytes(_response, EngineJsonContext.Default.PredictResponse);
}
