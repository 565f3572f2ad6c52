using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Storage;
using Appliance.Core.Training;

namespace Appliance.Core.Tests.Training;

/// <summary>The trainer learns, predicts exactly what the exported network computes, and its
/// checkpoints and exports keep what they must.</summary>
public sealed class TrainerTests
{
    private static readonly TrainerSettings Settings = new() { Threads = 2, BatchSize = 32, Seed = 3 };

    private static (TrainingData Data, TrainerState State, CtrTrainer Trainer) Trained(TempDirectory dir, int rows, int epochs, params int[] hidden)
    {
        var path = dir.Combine("data.tsv");
        GeneratedData.Write(path, rows, seed: 4);
        var state = TrainerState.Create(HashScheme.Paddle, 10, hidden, seed: 3);
        var data = TrainingData.Load(path, 0.2, HashScheme.Paddle, state.Table);
        var trainer = new CtrTrainer(state, Settings);
        for (var e = 1; e <= epochs; e++)
        {
            trainer.TrainEpoch(data.Train, e);
        }

        return (data, state, trainer);
    }

    private static double HeldOutAuc(TrainingData data, float[] scores) =>
        BinaryMetrics.Auc(scores.Select((s, i) => ((double)s, (int)data.HeldOut.Labels[i])).ToList());

    [Fact]
    public void LearnsMostOfWhatTheHiddenModelKnows()
    {
        using var dir = new TempDirectory();
        var (data, state, trainer) = Trained(dir, 20_000, 0, 32, 32);
        var untrained = HeldOutAuc(data, trainer.Predict(data.HeldOut));
        for (var e = 1; e <= 3; e++)
        {
            trainer.TrainEpoch(data.Train, e);
        }

        var truth = GeneratedData.ReadTruth(dir.Combine("data.tsv"), data.Train.Count, data.HeldOut.Count)!;
        var best = BinaryMetrics.Auc(truth.Select((p, i) => (p, (int)data.HeldOut.Labels[i])).ToList());
        var auc = HeldOutAuc(data, trainer.Predict(data.HeldOut));
        Assert.True(auc > 0.85 * best && auc > untrained + 0.1, $"AUC {auc:F4} (untrained {untrained:F4}, best {best:F4})");
        Assert.True(state.Table.Dirty.ToArray().All(d => d == 1), "every row used in training is marked updated");
    }

    [Fact]
    public void PredictionsEqualTheExportedNetworksForwardPass()
    {
        using var dir = new TempDirectory();
        var (data, state, trainer) = Trained(dir, 3000, 1, 16, 8);
        var scores = trainer.Predict(data.HeldOut);

        var network = state.ToNetwork();
        var n = data.HeldOut.Count;
        var embeddings = new float[n * 26 * 10];
        for (var i = 0; i < n * 26; i++)
        {
            var row = data.HeldOut.Rows[i];
            if (row >= 0)
            {
                state.Table.Row(row).CopyTo(embeddings.AsSpan(i * 10, 10));
            }
        }

        var output = network.Forward(embeddings, data.HeldOut.Dense, n);
        for (var i = 0; i < n; i++)
        {
            Assert.True(Math.Abs(output[(i * 2) + 1] - scores[i]) < 1e-5, $"row {i}: network {output[(i * 2) + 1]}, trainer {scores[i]}");
        }
    }

    [Fact]
    public void CheckpointRoundTripPredictsIdentically()
    {
        using var dir = new TempDirectory();
        var (data, state, trainer) = Trained(dir, 3000, 1, 16);
        state.BaseId = 100;
        state.LastId = 101;
        var path = dir.Combine(TrainerCheckpoint.FileName);
        TrainerCheckpoint.Save(state, path);

        var loaded = TrainerCheckpoint.Load(path);
        Assert.Equal((state.AdamStep, state.BaseId, state.LastId, state.Table.Count), (loaded.AdamStep, loaded.BaseId, loaded.LastId, loaded.Table.Count));
        Assert.Equal(state.Table.Dirty.ToArray(), loaded.Table.Dirty.ToArray());
        Assert.Equal(state.Table.Keys.ToArray(), loaded.Table.Keys.ToArray()); // same rows, same order
        Assert.Equal(trainer.Predict(data.HeldOut), new CtrTrainer(loaded, Settings).Predict(data.HeldOut));
    }

    [Theory]
    [InlineData(0, "not a cube training checkpoint")]
    [InlineData(40, "checksum mismatch")]
    [InlineData(-3, "checksum mismatch")]
    public void DamagedCheckpointIsRefusedWithItsOffset(int flip, string message)
    {
        using var dir = new TempDirectory();
        var state = TrainerState.Create(HashScheme.Paddle, 10, [8], seed: 1);
        state.Table.GetOrAdd(42);
        var path = dir.Combine(TrainerCheckpoint.FileName);
        TrainerCheckpoint.Save(state, path);
        var bytes = File.ReadAllBytes(path);
        bytes[flip >= 0 ? flip : bytes.Length + flip] ^= 0x20;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<InputFormatException>(() => TrainerCheckpoint.Load(path));
        Assert.Contains(message, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedCheckpointIsRefused()
    {
        using var dir = new TempDirectory();
        var state = TrainerState.Create(HashScheme.Paddle, 10, [8], seed: 1);
        var path = dir.Combine(TrainerCheckpoint.FileName);
        TrainerCheckpoint.Save(state, path);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^100]);
        Assert.Throws<InputFormatException>(() => TrainerCheckpoint.Load(path));
    }

    [Fact]
    public void DeltaExportHoldsExactlyTheRowsUpdatedSinceTheBase()
    {
        using var dir = new TempDirectory();
        var state = TrainerState.Create(HashScheme.Paddle, 10, [8], seed: 1);
        foreach (var key in new ulong[] { 5, 6, 7, 8 })
        {
            state.Table.GetOrAdd(key);
        }

        Assert.Throws<InvalidOperationException>(() => TableExport.Write(state, dir.Path, patch: true));
        var baseExport = TableExport.Write(state, dir.Path, patch: false);
        Assert.False(File.Exists(dir.Combine("donefile", "base.txt"))); // published only by Publish, last
        TableExport.Publish(baseExport);
        Assert.Equal(4, baseExport.Rows);
        Assert.All(state.Table.Dirty.ToArray(), d => Assert.Equal(0, d));

        state.Table.Dirty[state.Table.Find(6)] = 1;
        state.Table.GetOrAdd(9);
        state.Table.Dirty[state.Table.Find(9)] = 1;
        var patch = TableExport.Write(state, dir.Path, patch: true);
        TableExport.Publish(patch);

        Assert.Equal(baseExport.Id, patch.Entry.Key);
        Assert.True(ulong.Parse(patch.Id, System.Globalization.CultureInfo.InvariantCulture) > ulong.Parse(baseExport.Id, System.Globalization.CultureInfo.InvariantCulture));
        var keys = new List<ulong>();
        foreach (var file in Directory.GetFiles(patch.Directory))
        {
            using var reader = SequenceFileReader.Open(file);
            while (reader.MoveNext())
            {
                keys.Add(reader.Key);
                Assert.Equal(40, reader.Value.Length);
            }
        }

        Assert.Equal([6UL, 9UL], keys.Order());
        var lines = File.ReadAllLines(dir.Combine("donefile", "patch.txt"));
        Assert.Equal(patch.Entry.ToLine(), Assert.Single(lines));
    }

    [Fact]
    public void ServedValuesFollowTheCodec()
    {
        var table = new EmbeddingTable(10, 1);
        table.GetOrAdd(1);
        table.Row(0)[3] = 0.123456789f;
        Assert.Same(table.RawValues, TableExport.AsServed(table, ValueCodec.F32));
        var f16 = TableExport.AsServed(table, ValueCodec.F16);
        Assert.Equal((float)(Half)0.123456789f, f16[3]);
    }
}
