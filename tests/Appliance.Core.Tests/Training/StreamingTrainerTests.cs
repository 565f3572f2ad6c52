using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Storage;
using Appliance.Core.Training;

namespace Appliance.Core.Tests.Training;

/// <summary>cube train --stream's trainer: every interval is scored by what was exported before
/// it (never by a model that has trained on it), then published as a patch of the base with the
/// model trained with it.</summary>
public sealed class StreamingTrainerTests
{
    private static readonly TrainerSettings OneThread = new() { Threads = 1, BatchSize = 32, Seed = 3 };

    [Fact]
    public void EachIntervalIsScoredByTheExportBeforeItAndPublishedAfterIt()
    {
        using var dir = new TempDirectory();
        var (outDir, baseId) = ExportBase(dir);
        var stream = dir.Combine("stream.tsv");
        GeneratedData.Write(stream, 900, seed: 4, stream: 1, drift: 1, fromRow: 2000);
        var lines = File.ReadAllLines(stream);
        var intervals = new[] { lines[..300], lines[300..600], lines[600..] };

        var streaming = Open(outDir);
        var scored = new List<float[]>();
        var exports = new List<TableExport.Result>();
        for (var k = 0; k < intervals.Length; k++)
        {
            var interval = streaming.Score(intervals[k], stream, (k * 300) + 1);
            Assert.Equal(interval.Scores, streaming.Score(intervals[k], stream, (k * 300) + 1).Scores); // scoring trains nothing
            scored.Add(interval.Scores);
            exports.Add(streaming.TrainAndExport(interval, stream, (k * 300) + 1));
        }

        // Replay from the base checkpoint: interval k's scores are those of a trainer that has
        // trained on intervals 0..k-1 only.
        var replay = new CtrTrainer(TrainerCheckpoint.Load(dir.Combine("base-checkpoint.bin")), OneThread);
        for (var k = 0; k < intervals.Length; k++)
        {
            var asServed = new EncodedSamples(intervals[k].Length);
            asServed.Fill(0, intervals[k], stream, 1, HashScheme.Paddle, DenseNormalizer.Criteo, replay.State.Table, addKeys: false);
            Assert.True(scored[k].SequenceEqual(replay.Predict(asServed)), $"interval {k}: scores differ from the replay's");
            var train = new EncodedSamples(intervals[k].Length);
            train.Fill(0, intervals[k], stream, 1, HashScheme.Paddle, DenseNormalizer.Criteo, replay.State.Table, addKeys: true);
            replay.TrainEpoch(train, replay.State.EpochsTrained + 1 + k);
        }

        var patches = File.ReadAllLines(Path.Combine(outDir, TableExport.DonefileDirectory, "patch.txt")).Select((l, i) => DonefileEntry.Parse(l, "patch.txt", i + 1)).ToList();
        Assert.Equal(exports.Select(e => e.Id), patches.Select(p => p.Id));
        Assert.All(patches, p => Assert.Equal(baseId, p.Key));
        Assert.All(exports, e => Assert.True(e.IsPatch && e.Rows > 0));
        var spec = ModelPackage.ReadSpec(Path.Combine(outDir, "model"));
        Assert.Equal(exports[^1].Id, spec.TableVersion);
        Assert.Equal(exports[^1].Id, spec.Version);
        Assert.Equal(exports[^1].Id, TrainerCheckpoint.Load(Path.Combine(outDir, TrainerCheckpoint.FileName)).LastId.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void AStreamNeedsABaseExportedFirst()
    {
        using var dir = new TempDirectory();
        var state = TrainerState.Create(HashScheme.Paddle, 10, [8], seed: 3);
        Assert.Throws<InvalidOperationException>(() => new StreamingTrainer(state, OneThread, dir.Path, new ModelSpec { Dict = "d" }, ValueCodec.F32));
    }

    private static StreamingTrainer Open(string outDir) =>
        new(TrainerCheckpoint.Load(Path.Combine(outDir, TrainerCheckpoint.FileName)), OneThread, outDir, ModelPackage.ReadSpec(Path.Combine(outDir, "model")), ValueCodec.F32);

    /// <summary>What cube train exports for a base: table, model, checkpoint, donefile line (and
    /// a copy of the checkpoint to replay from).</summary>
    private static (string OutDir, string BaseId) ExportBase(TempDirectory dir)
    {
        var data = dir.Combine("base.tsv");
        GeneratedData.Write(data, 2000, seed: 4, drift: 1);
        var state = TrainerState.Create(HashScheme.Paddle, 10, [16, 8], seed: 3);
        var loaded = TrainingData.Load(data, 0, HashScheme.Paddle, state.Table);
        new CtrTrainer(state, OneThread).TrainEpoch(loaded.Train, 1);
        state.EpochsTrained = 1;
        var outDir = dir.Combine("out");
        var export = TableExport.Write(state, outDir, patch: false);
        ModelPackage.Write(Path.Combine(outDir, "model"), state.ToNetwork(), new ModelSpec { Dict = "d", TableVersion = export.Id }, export.Id);
        TrainerCheckpoint.Save(state, Path.Combine(outDir, TrainerCheckpoint.FileName));
        TrainerCheckpoint.Save(state, dir.Combine("base-checkpoint.bin"));
        TableExport.Publish(export);
        return (outDir, export.Id);
    }
}
