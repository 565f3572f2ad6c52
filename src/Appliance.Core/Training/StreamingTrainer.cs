using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Storage;

namespace Appliance.Core.Training;

/// <summary>
/// Online training on a stream of rows, cut into intervals (<c>cube train --stream</c>): each
/// interval is first scored with the values as exported so far — what the serving fleet answers
/// for that traffic when the last export is live (progressive validation: no row is scored by a
/// model that has trained on it) — then trained on once, in a shuffled order, and exported as a
/// patch of the rows it touched, with the model trained with it and the checkpoint naming both.
/// The order of each export is <c>cube train --delta</c>'s: table, model, checkpoint, donefile line.
/// <para>Split in two so a caller can put something between the halves: <c>cube demo --stream</c>
/// asks the live deployment for the same scores before the interval is trained on.</para>
/// </summary>
internal sealed class StreamingTrainer
{
    private readonly CtrTrainer _trainer;
    private readonly string _outDir;
    private readonly ModelSpec _spec;
    private readonly ValueCodec _codec;
    private float[] _served;
    private int _trained; // intervals trained on and exported by this instance

    /// <param name="spec">model.json of the last export (dict, hash, codec, dimension carried on).</param>
    public StreamingTrainer(TrainerState state, TrainerSettings settings, string outDir, ModelSpec spec, ValueCodec codec)
    {
        if (state.BaseId == 0)
        {
            throw new InvalidOperationException("no base has been exported from this checkpoint yet; export a base first (cube train without --stream)");
        }

        _trainer = new CtrTrainer(state, settings);
        _outDir = outDir;
        _spec = spec;
        _codec = codec;
        _served = TableExport.AsServed(state.Table, codec);
    }

    public TrainerState State => _trainer.State;

    /// <summary>Where the exports, model and checkpoint go.</summary>
    public string OutDir => _outDir;

    /// <summary>One interval's rows, encoded twice: as the deployment sees them (a key the last
    /// export lacks reads as zeros) and as training sees them (new keys get rows).</summary>
    public sealed class Interval
    {
        internal Interval(int index, IReadOnlyList<string> lines, EncodedSamples asServed, float[] scores)
        {
            Index = index;
            Lines = lines;
            AsServed = asServed;
            Scores = scores;
        }

        /// <summary>How many intervals had been trained on when this one was scored.</summary>
        public int Index { get; }

        public IReadOnlyList<string> Lines { get; }

        internal EncodedSamples AsServed { get; }

        /// <summary>P(click) of each row from the values and model last exported.</summary>
        public float[] Scores { get; }

        public byte[] Labels => AsServed.Labels;
    }

    /// <summary>Scores <paramref name="lines"/> (labelled Criteo rows, lines
    /// <paramref name="firstLineNumber"/>… of <paramref name="path"/>) as the last export serves them.</summary>
    public Interval Score(IReadOnlyList<string> lines, string path, long firstLineNumber)
    {
        var samples = new EncodedSamples(lines.Count);
        samples.Fill(0, lines, path, firstLineNumber, State.Hash, DenseNormalizer.Criteo, State.Table, addKeys: false);
        return new Interval(_trained, lines, samples, _trainer.Predict(samples, _served));
    }

    /// <summary>Trains once on the interval's rows and publishes them as a patch with the model:
    /// the next interval is scored with what this returns.</summary>
    public TableExport.Result TrainAndExport(Interval interval, string path, long firstLineNumber)
    {
        var samples = new EncodedSamples(interval.Lines.Count);
        samples.Fill(0, interval.Lines, path, firstLineNumber, State.Hash, DenseNormalizer.Criteo, State.Table, addKeys: true);
        _trainer.TrainEpoch(samples, State.EpochsTrained + 1 + _trained++); // the shuffle's seed
        var export = TableExport.Write(State, _outDir, patch: true);
        ModelPackage.Write(Path.Combine(_outDir, "model"), State.ToNetwork(), _spec with { TableVersion = export.Id }, export.Id);
        TrainerCheckpoint.Save(State, Path.Combine(_outDir, TrainerCheckpoint.FileName));
        TableExport.Publish(export);
        _served = TableExport.AsServed(State.Table, _codec);
        return export;
    }
}
