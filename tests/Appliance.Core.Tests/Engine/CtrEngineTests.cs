using System.Buffers.Binary;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Engine;

/// <summary>The engine with local shards scores the real Criteo sample exactly as a plain C#
/// forward pass of the same weights and embeddings does.</summary>
public sealed class CtrEngineTests
{
    /// <summary>The table decodes with its own codec whatever the model's value_codec says
    /// (a raw or f32 table under an f16 model failed every request).</summary>
    [Theory]
    [InlineData("f32", "f32", 1e-5)]
    [InlineData("f16", "f16", 1e-5)]
    [InlineData("f32", "f16", 1e-5)]
    [InlineData("raw", "f16", 1e-5)]
    [InlineData("f16", "f32", 1e-5)]
    public async Task LocalShardScoresEqualThePlainForwardPass(string codec, string modelCodec, double tolerance)
    {
        using var dir = new TempDirectory();
        var lines = File.ReadAllLines(TestData.CriteoSample);
        var samples = lines.Select(l => CriteoSample.Parse(l)).ToList();
        var keys = samples.SelectMany(s => s.Sparse.Select((t, slot) => FeatureHasher.PaddleKey(slot, t))).Distinct().ToList();

        // The table: every key but one in twenty (those are missing → zero vectors).
        var random = new Random(3);
        var table = new Dictionary<ulong, float[]>();
        Directory.CreateDirectory(dir.Combine("in"));
        using (var writer = SequenceFileWriter.Create(dir.Combine("in", "part-00000"), seed: 1))
        {
            var row = new byte[40];
            foreach (var key in keys.Where((_, i) => i % 20 != 7))
            {
                var v = Enumerable.Range(0, 10).Select(_ => (random.NextSingle() * 2) - 1).ToArray();
                for (var d = 0; d < 10; d++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(d * 4), v[d]);
                }

                writer.Write(key, row);
                table[key] = codec == "f16" ? v.Select(x => (float)(Half)x).ToArray() : v;
            }
        }

        Assert.True(ValueCodecs.TryParse(codec, out var valueCodec));
        TableBuilder.Build(new BuildOptions { InputPath = dir.Combine("in"), OutputPath = dir.Combine("out"), Dict = "emb", Shards = 2, Version = "1", Codec = valueCodec });
        using var local = LocalTable.OpenNewest(dir.Combine("out"), "emb", inMemory: true);
        Assert.Equal([0, 1], local.Shards);

        var network = DenseNetwork.Random(seed: 11);
        ModelPackage.Write(dir.Combine("model"), network, new ModelSpec { Dict = "emb", ValueCodec = modelCodec }, "1700000000");
        using var model = ModelPackage.Load(dir.Combine("model"));
        var engine = new CtrEngine(model, new LocalEmbeddingSource(local));

        var scores = new List<float?>();
        for (var start = 0; start < lines.Length; start += 128)
        {
            var result = await engine.ScoreAsync(lines.Skip(start).Take(128).ToList());
            Assert.All(result.Errors, Assert.Null);
            scores.AddRange(result.Scores);
        }

        // The reference: the same features, embeddings from the dictionary, the plain forward pass.
        var dense = new float[lines.Length * 13];
        var embeddings = new float[lines.Length * 260];
        for (var i = 0; i < samples.Count; i++)
        {
            DenseNormalizer.Criteo.Normalize(samples[i].Dense, dense.AsSpan(i * 13, 13));
            for (var s = 0; s < 26; s++)
            {
                if (table.TryGetValue(FeatureHasher.PaddleKey(s, samples[i].Sparse[s]), out var v))
                {
                    v.CopyTo(embeddings, (i * 260) + (s * 10));
                }
            }
        }

        var expected = network.Forward(embeddings, dense, lines.Length);
        var worst = scores.Select((score, i) => Math.Abs(score!.Value - expected[(i * 2) + 1])).Max();
        Assert.True(worst <= tolerance, $"largest difference {worst}");
        Assert.True(engine.Misses > 0);
    }

    [Fact]
    public async Task AMalformedLineIsThatSamplesErrorAndTheOthersAreScored()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 1, hidden: 16, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        using var model = ModelPackage.Load(dir.Combine("model"));
        var engine = new CtrEngine(model, new LocalEmbeddingSource(new LocalTable(dir.Path, "emb", [0], inMemory: true)));
        var good = File.ReadLines(TestData.CriteoSample).First();
        var result = await engine.ScoreAsync([good, "1\t2\t3", good.Replace("\t29\t", "\tmany\t", StringComparison.Ordinal), good]);
        Assert.NotNull(result.Scores[0]);
        Assert.Equal(result.Scores[0], result.Scores[3]);
        Assert.Null(result.Scores[1]);
        Assert.Contains("3 fields", result.Errors[1]);
        Assert.Contains("I2 = 'many' is not a number", result.Errors[2]);
        Assert.Equal(26, result.MissingKeys); // an empty store: every key is a zero vector
    }

    [Theory]
    [InlineData("embedding_dim", "\"embedding_dim\": 8", "input 'embeddings' has shape [-1, 260]; model.json's sparse_slots × embedding_dim = 208 needs [N, 208]")]
    [InlineData("output", "\"output\": \"score\"", "model.json names output 'score'; the graph has prob")]
    [InlineData("click_column", "\"click_column\": 2", "click_column 2 is not one of its columns")]
    [InlineData("hash", "\"hash\": \"md5\"", "'md5' is not paddle or xxh64")]
    public void APackageWhoseSpecDisagreesWithItsGraphIsRefused(string field, string replacement, string expected)
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        var spec = dir.Combine("model.json");
        var text = File.ReadAllText(spec);
        var start = text.IndexOf($"\"{field}\"", StringComparison.Ordinal);
        var end = text.IndexOfAny([',', '\n'], start);
        File.WriteAllText(spec, text[..start] + replacement + text[end..]);
        var e = Assert.Throws<InputFormatException>(() => ModelPackage.Load(dir.Path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ACorruptOnnxFileIsRefused()
    {
        using var dir = new TempDirectory();
        ModelPackage.Write(dir.Path, DenseNetwork.Random(seed: 1, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb" }, "1");
        var onnx = dir.Combine("model.onnx");
        File.WriteAllBytes(onnx, File.ReadAllBytes(onnx)[..100]);
        var e = Assert.Throws<InputFormatException>(() => ModelPackage.Load(dir.Path));
        Assert.StartsWith($"{onnx}: offset 0: ONNX Runtime refused the model", e.Message);
    }

    [Fact]
    public async Task ATableWhoseRowsDoNotFitTheModelIsRefusedWithOneNamedError()
    {
        using var dir = new TempDirectory();
        var line = File.ReadLines(TestData.CriteoSample).First();
        var keys = CriteoSample.Parse(line).Sparse.Select((t, slot) => FeatureHasher.PaddleKey(slot, t)).ToList();
        Directory.CreateDirectory(dir.Combine("in"));
        using (var writer = SequenceFileWriter.Create(dir.Combine("in", "part-00000"), seed: 1))
        {
            foreach (var key in keys)
            {
                writer.Write(key, new byte[40]); // 10 floats
            }
        }

        TableBuilder.Build(new BuildOptions { InputPath = dir.Combine("in"), OutputPath = dir.Combine("out"), Dict = "emb", Shards = 1, Version = "5", Codec = ValueCodec.F32 });
        ModelPackage.Write(dir.Combine("model"), DenseNetwork.Random(seed: 1, embeddingDim: 8, hidden: 8, hiddenLayers: 1), new ModelSpec { Dict = "emb", EmbeddingDim = 8 }, "1");
        using var model = ModelPackage.Load(dir.Combine("model"));
        using var local = LocalTable.OpenNewest(dir.Combine("out"), "emb", inMemory: true);
        var engine = new CtrEngine(model, new LocalEmbeddingSource(local));
        var e = await Assert.ThrowsAsync<TableMismatchException>(() => engine.ScoreAsync([line]));
        Assert.Contains("table version 5 of dict 'emb' holds 10 floats per row (f32); the model expects embedding_dim 8", e.Message, StringComparison.Ordinal);
    }
}
