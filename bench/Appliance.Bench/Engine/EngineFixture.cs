using System.Buffers.Binary;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;

namespace Appliance.Bench.Engine;

/// <summary>
/// <c>-- engine-fixture --out DIR</c>: what bench/engine-http.sh serves — a SequenceFile embedding
/// table (dim 10) holding every paddle key of the Criteo sample plus random keys up to 1M, and a
/// model package with random weights — so the engine can be measured over HTTP with cube predict.
/// </summary>
internal static class EngineFixture
{
    public static int Run(string[] args)
    {
        var outDir = args.Length >= 2 && args[0] == "--out" ? args[1] : throw new ArgumentException("usage: engine-fixture --out DIR");
        var root = RepositoryRoot();
        var sample = File.ReadAllLines(Path.Combine(root, "tests", "data", "criteo-sample-1000.txt"));
        var keys = sample.Select(l => CriteoSample.Parse(l)).SelectMany(s => s.Sparse.Select((t, slot) => FeatureHasher.PaddleKey(slot, t))).ToHashSet();
        var random = new Random(1);
        while (keys.Count < 1_000_000)
        {
            keys.Add((ulong)random.NextInt64(2_000_000, long.MaxValue));
        }

        Directory.CreateDirectory(Path.Combine(outDir, "input"));
        using (var writer = SequenceFileWriter.Create(Path.Combine(outDir, "input", "part-00000"), seed: 1))
        {
            var row = new byte[40];
            foreach (var key in keys)
            {
                for (var d = 0; d < 10; d++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(d * 4), (random.NextSingle() * 2) - 1);
                }

                writer.Write(key, row);
            }
        }

        ModelPackage.Write(Path.Combine(outDir, "model"), DenseNetwork.Random(seed: 3), new ModelSpec { Dict = "emb" }, "1");
        Console.WriteLine($"{keys.Count} keys in {outDir}/input, model in {outDir}/model");
        return 0;
    }

    /// <summary>The checkout this benchmark runs from (where Appliance.sln is).</summary>
    internal static string RepositoryRoot()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Appliance.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }

        return root;
    }
}
