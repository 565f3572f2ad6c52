using System.Buffers.Binary;
using Appliance.Core.Engine;
using Appliance.Core.Engine.Onnx;
using Appliance.Core.Features;
using Appliance.Core.Storage;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Engine;

/// <summary>
/// The CTR engine in-process with a 1M-key table in local shards (2 shards, f32, dim 10), the
/// 273→400→400→400→2 network, real Criteo lines: end to end (parse, hash, gather, ONNX Runtime)
/// beside ONNX Runtime alone on the same batches, and the two other stages alone, so the share of
/// each shows. One thread. Setup checks that end to end and ORT alone give the same scores.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // BenchmarkDotNet disposes through [GlobalCleanup]
public class EngineBenchmarks
{
    private const int TableKeys = 1_000_000;

    private LocalTable _table = null!;
    private string _directory = null!;
    private ModelPackage _model = null!;
    private CtrEngine _engine = null!;
    private LocalEmbeddingSource _source = null!;
    private List<string> _lines = null!;
    private float[] _embeddings = null!;
    private float[] _dense = null!;
    private EngineSample[] _samples = null!;
    private ulong[] _uniqueKeys = null!;
    private float[] _gathered = null!;
    private bool[] _found = null!;

    [Params(1, 32, 256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var sample = File.ReadAllLines(Path.Combine(RepositoryRoot(), "tests", "data", "criteo-sample-1000.txt"));
        _lines = Enumerable.Range(0, Batch).Select(i => sample[(i * 37) % sample.Length]).ToList();
        _samples = EngineSample.FromLines(_lines);
        var sampleKeys = sample.Select(l => CriteoSample.Parse(l)).SelectMany(s => s.Sparse.Select((t, slot) => FeatureHasher.PaddleKey(slot, t))).ToHashSet();

        // 1M keys: every key of the sample plus random ones, 2 shards.
        _directory = Path.Combine(Path.GetTempPath(), $"cube-engine-bench-{Environment.ProcessId}-{Batch}");
        var buffers = new[] { new EntryBuffer(), new EntryBuffer() };
        var random = new Random(1);
        var row = new byte[40];
        var keys = sampleKeys.ToList();
        while (keys.Count < TableKeys)
        {
            keys.Add((ulong)random.NextInt64(2_000_000, long.MaxValue));
        }

        foreach (var key in keys)
        {
            for (var d = 0; d < 10; d++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(d * 4), (random.NextSingle() * 2) - 1);
            }

            buffers[ShardRouting.ShardOf(key, 2)].Add(key, row);
        }

        for (var s = 0; s < 2; s++)
        {
            var shard = Path.Combine(_directory, "1_1", $"emb_part{s}");
            var (index, values, distinct) = ShardWriter.Write(shard, [buffers[s]], ValueCodec.F32, 10);
            var manifest = new ShardManifest { Dict = "emb", Shard = s, ShardCount = 2, Version = "1", Base = "1", Mode = VersionMode.Base, Codec = "f32", Dimension = 10, Keys = distinct, Index = index, Values = values };
            File.WriteAllBytes(Path.Combine(shard, ShardLayout.ManifestFileName), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(manifest, Core.Storage.StorageJsonContext.Default.ShardManifest));
        }

        ModelPackage.Write(Path.Combine(_directory, "model"), DenseNetwork.Random(seed: 3), new ModelSpec { Dict = "emb" }, "1");
        _model = ModelPackage.Load(Path.Combine(_directory, "model"));
        _table = new LocalTable(_directory, "emb", [0, 1], inMemory: true);
        _table.Apply("1", []);
        _source = new LocalEmbeddingSource(_table);
        _engine = new CtrEngine(_model, _source);

        // The exact tensors the engine builds, for ONNX Runtime alone.
        _dense = new float[Batch * 13];
        _embeddings = new float[Batch * 260];
        var unique = new HashSet<ulong>();
        for (var i = 0; i < Batch; i++)
        {
            var s = CriteoSample.Parse(_lines[i]);
            DenseNormalizer.Criteo.Normalize(s.Dense, _dense.AsSpan(i * 13, 13));
            for (var slot = 0; slot < 26; slot++)
            {
                var key = FeatureHasher.PaddleKey(slot, s.Sparse[slot]);
                unique.Add(key);
                var v = new float[10];
                _source.GatherAsync(new[] { key }, v, 10, ValueCodec.F32, new bool[1], CancellationToken.None).GetAwaiter().GetResult();
                v.CopyTo(_embeddings, (i * 260) + (slot * 10));
            }
        }

        _uniqueKeys = [.. unique];
        _gathered = new float[_uniqueKeys.Length * 10];
        _found = new bool[_uniqueKeys.Length];
        var endToEnd = EndToEnd();
        var alone = OnnxRuntimeAlone();
        for (var i = 0; i < Batch; i++)
        {
            if (Math.Abs(endToEnd[i]!.Value - alone[(i * 2) + 1]) > 1e-6)
            {
                throw new InvalidOperationException($"sample {i}: end to end {endToEnd[i]}, ORT alone {alone[(i * 2) + 1]}");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _table.Dispose();

        Directory.Delete(_directory, true);
    }

    [Benchmark(Baseline = true)]
    public float[] OnnxRuntimeAlone() =>
        _model.Scorer.Score(OnnxModelWriter.EmbeddingsInput, _embeddings, 260, OnnxModelWriter.DenseInput, _dense, 13, OnnxModelWriter.Output, Batch);

    /// <summary>The engine on a request's samples, built once as a request brings them (the HTTP
    /// and binary paths read a body into its samples; the conversion from strings, 32 bytes a
    /// sample, was counted here as the engine's).</summary>
    [Benchmark]
    public float?[] EndToEnd() => _engine.ScoreAsync(_samples).GetAwaiter().GetResult().Scores;

    [Benchmark]
    public float ParseNormaliseHash()
    {
        // What the engine does per line: tokens hashed where they lie, no string per field.
        Span<float> dense = stackalloc float[13];
        Span<double?> raw = stackalloc double?[13];
        Span<Range> tokens = stackalloc Range[26];
        Span<ulong> keys = stackalloc ulong[26];
        var sum = 0f;
        foreach (var line in _lines)
        {
            CriteoSample.Read(line, raw, tokens, out var trimmed);
            DenseNormalizer.Criteo.Normalize(raw, dense);
            FeatureHasher.Keys(HashScheme.Paddle, trimmed, tokens, keys);
            foreach (var key in keys)
            {
                sum += key;
            }
        }

        return sum;
    }

    /// <summary>The embedding source's gather into buffers the caller owns (the engine rents
    /// them from its scratch pool): the allocation column is the source's own. The buffers were
    /// allocated here per call (102,940 bytes at batch 256, a large-object array) and read as the
    /// engine's.</summary>
    [Benchmark]
    public float[] Gather()
    {
        _source.GatherAsync(_uniqueKeys, _gathered, 10, ValueCodec.F32, _found, CancellationToken.None).GetAwaiter().GetResult();
        return _gathered;
    }

    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Appliance.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}
