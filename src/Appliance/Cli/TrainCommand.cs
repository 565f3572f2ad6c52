using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Diagnostics;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Native;
using Appliance.Core.Storage;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary>
/// <c>cube train --data FILE --out DIR</c>: trains the CTR-DNN and exports what any trainer must
/// export (docs/export-contract.md): the table as SequenceFile + donefile line (a base, or with
/// --delta a patch of the rows updated since the last export) and the model package.
/// </summary>
internal static partial class TrainCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("data", "labelled Criteo rows (40 fields); the last --holdout of them are held out", Meta: "FILE"),
        new("out", "export directory: <id>/base|patch/ SequenceFiles, donefile/, model/, checkpoint, held-out predictions", Meta: "DIR"),
        new("epochs", "passes over the training rows", "3", Meta: "N"),
        new("threads", "training threads", "the number of cores", Meta: "N"),
        new("hash", "feature hashing: paddle (as the original demo) or xxh64", "paddle", Meta: "SCHEME"),
        new("value-codec", "how the table will be served: f32, f16 or i8 (written to model.json; predictions use the rounded values)", "f32", Meta: "CODEC"),
        new("dict", "table name in model.json and transfer.conf", "test_dict", Meta: "NAME"),
        new("holdout", "fraction of rows, from the end of the file, held out for evaluation", "0.1", Meta: "F"),
        new("hidden", "hidden layer widths", "400,400,400", Meta: "W,W,…"),
        new("batch", "minibatch size", "64", Meta: "N"),
        new("lr", "Adam learning rate of the dense layers", "0.001", Meta: "R"),
        new("sparse-lr", "Adagrad learning rate of the table rows", "0.05", Meta: "R"),
        new("seed", "initialisation and shuffling seed", "1", Meta: "S"),
        new("resume", "continue from DIR's checkpoint instead of starting a new model", IsFlag: true),
        new("delta", "continue from DIR's checkpoint and export only the rows updated since the last export, as a patch of the last base", IsFlag: true),
        new("stream", "online training: continue from DIR's checkpoint through --data in order, one pass, a patch and model every SECONDS of traffic; each interval scored before it is trained on (stream.tsv, stream.predictions)", Meta: "SECONDS"),
        new("rate", "with --stream: rows of --data per second of traffic", "100", Meta: "ROWS"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube train --data FILE --out DIR [options]", "Trains the CTR-DNN on all cores and exports the table (SequenceFile + donefile) and the model package.", Options));
            return 0;
        }

        if (a.Has("stream"))
        {
            return RunStream(a);
        }

        var inv = CultureInfo.InvariantCulture;
        var dataPath = a.Require("data");
        var outDir = Path.GetFullPath(a.Require("out"));
        var epochs = a.Int("epochs", 0, 10_000);
        var holdout = double.TryParse(a.Require("holdout"), NumberStyles.Float, inv, out var h) && h is >= 0 and < 1 ? h : throw new UsageException("option --holdout: needs a fraction in [0, 1)");
        if (!FeatureHasher.TryParse(a.Require("hash"), out var hash))
        {
            throw new UsageException($"option --hash: '{a.Get("hash")}' is not paddle or xxh64");
        }

        if (!ValueCodecs.TryParse(a.Require("value-codec"), out var codec) || codec == ValueCodec.Raw)
        {
            throw new UsageException($"option --value-codec: '{a.Get("value-codec")}' is not f32, f16 or i8");
        }

        var hidden = a.Require("hidden").Split(',').Select(w => int.TryParse(w, NumberStyles.None, inv, out var v) && v is > 0 and <= 1 << 14 ? v : throw new UsageException($"option --hidden: '{w}' is not a layer width")).ToArray();
        var settings = Settings(a);

        var resume = a.Flag("resume") || a.Flag("delta");
        Directory.CreateDirectory(outDir);
        var checkpointPath = Path.Combine(outDir, TrainerCheckpoint.FileName);
        TrainerState state;
        if (resume)
        {
            if (!File.Exists(checkpointPath))
            {
                throw new UsageException($"--{(a.Flag("delta") ? "delta" : "resume")}: {checkpointPath} does not exist; train a base into {outDir} first");
            }

            state = TrainerCheckpoint.Load(checkpointPath);
            if (a.Has("hash") && state.Hash != hash)
            {
                throw new UsageException($"option --hash: the checkpoint was trained with {state.Hash.ToString().ToLowerInvariant()}");
            }

            hash = state.Hash;

            // The value codec goes with the exported table and model: a delta keeps the one the
            // last export was made for (model.json), instead of silently falling back to f32.
            var previousSpec = Path.Combine(outDir, "model", ModelPackage.SpecFile);
            if (File.Exists(previousSpec) && ValueCodecs.TryParse(ModelPackage.ReadSpec(Path.GetDirectoryName(previousSpec)!).ValueCodec, out var previous))
            {
                if (a.Has("value-codec") && codec != previous)
                {
                    throw new UsageException($"option --value-codec: {outDir} was exported for {ValueCodecs.Name(previous)}; a resumed run keeps it (train a new base into another --out to change it)");
                }

                codec = previous;
            }
        }
        else
        {
            state = TrainerState.Create(hash, 10, hidden, settings.Seed);
        }

        GcHugePages.Advise(); // the table and activations: fewer page faults (Native/GcHugePages)
        var clock = Stopwatch.StartNew();
        var rowsBefore = state.Table.Count;
        var data = TrainingData.Load(dataPath, holdout, hash, state.Table);
        var best = GeneratedData.ReadTruth(dataPath, data.Train.Count, data.HeldOut.Count) is { } truth && data.HeldOut.Count > 1
            ? BinaryMetrics.Auc(truth.Select((p, i) => (p, (int)data.HeldOut.Labels[i])).ToList())
            : (double?)null;
        var bestText = best is { } b ? string.Create(inv, $"  (best achievable {b:F4})") : string.Empty;
        Console.Out.WriteLine(string.Create(inv, $"data     {data.Path}: {data.Train.Count} training rows, {data.HeldOut.Count} held out (the last {holdout:P0}); table {state.Table.Count} rows ({state.Table.Count - rowsBefore} new); read in {clock.Elapsed.TotalSeconds:F1} s"));
        Console.Out.WriteLine(string.Create(inv, $"model    {TrainerState.Slots}×{state.EmbeddingDim} + {TrainerState.DenseWidth} → {string.Join(" → ", state.Layers.Select(l => l.Outputs))}; {(resume ? $"resumed after {state.EpochsTrained} epoch(s)" : "new")}; {settings.Threads} thread(s), batch {settings.BatchSize}"));
        var trainer = new CtrTrainer(state, settings);
        for (var epoch = 1; epoch <= epochs; epoch++)
        {
            var started = Stopwatch.GetTimestamp();
            var progress = new EpochProgress(epoch, epochs, data.Train.Count, settings.Threads);
            double loss;
            using (ProgressMeter.ForConsole(progress.Describe))
            {
                loss = trainer.TrainEpoch(data.Train, state.EpochsTrained + 1, progress);
            }

            state.EpochsTrained++;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var heldOut = Evaluate(trainer, data.HeldOut, null);
            var evaluation = data.HeldOut.Count > 0 ? string.Create(inv, $"  held-out AUC {heldOut.Auc:F4}{bestText}  log loss {heldOut.LogLoss:F4}") : string.Empty;
            Console.Out.WriteLine(string.Create(inv,
                $"epoch {epoch}/{epochs}  train log loss {loss:F4}{evaluation}  {seconds:F1} s ({data.Train.Count / seconds:F0} rows/s)"));
        }

        // Order: table files, model, checkpoint, and the donefile line last (each written under a
        // temporary name, fsynced, renamed): a version is published only when everything that
        // goes with it is on disk, so a failure part-way publishes nothing.
        var export = TableExport.Write(state, outDir, a.Flag("delta"));
        Console.Out.WriteLine(string.Create(inv, $"table    {(export.IsPatch ? "patch" : "base")} {export.Id}: {export.Rows} rows in {export.Parts} SequenceFile(s) under {export.Directory}"));

        var modelDir = Path.Combine(outDir, "model");
        var spec = new ModelSpec
        {
            Dict = a.Require("dict"),
            Hash = hash == HashScheme.Xxh64 ? "xxh64" : "paddle",
            ValueCodec = ValueCodecs.Name(codec),
            EmbeddingDim = state.EmbeddingDim,
            TableVersion = export.Id,
        };
        ModelPackage.Write(modelDir, state.ToNetwork(), spec, export.Id);
        Console.Out.WriteLine($"model    {modelDir} (model.onnx, model.json, timestamp {export.Id})");

        // The held-out rows and what this model predicts for them with the values as served, so
        // a deployment can be checked against the trainer (cube predict --out, then compare). A
        // run without held-out rows re-predicts the previous run's.
        var holdoutPath = Path.Combine(outDir, "holdout.tsv");
        var (evalLines, evalSamples) = (data.HeldOutLines, data.HeldOut);
        if (evalSamples.Count == 0 && File.Exists(holdoutPath))
        {
            var previous = TrainingData.LoadEvaluation(holdoutPath, hash, state.Table);
            (evalLines, evalSamples) = (previous.HeldOutLines, previous.HeldOut);
        }

        var served = Evaluate(trainer, evalSamples, TableExport.AsServed(state.Table, codec));
        Core.Formats.AtomicFile.Write(holdoutPath, System.Text.Encoding.UTF8.GetBytes(string.Concat(evalLines.Select(l => l + "\n"))));
        Core.Formats.AtomicFile.Write(Path.Combine(outDir, "holdout.predictions"), System.Text.Encoding.UTF8.GetBytes(string.Concat(served.Scores.Select(s => s.ToString("R", inv) + "\n"))));
        TrainerCheckpoint.Save(state, checkpointPath);
        TableExport.Publish(export);
        Console.Out.WriteLine($"donefile {export.Donefile}: {export.Entry.ToLine()}");
        if (evalSamples.Count > 0)
        {
            Console.Out.WriteLine(string.Create(inv, $"held-out {holdoutPath}: {evalSamples.Count} rows, AUC {served.Auc:F4}{(evalSamples == data.HeldOut ? bestText : string.Empty)} with the {ValueCodecs.Name(codec)} values as served; this model's predictions in holdout.predictions"));
        }

        Console.Out.WriteLine(string.Create(inv, $"done in {clock.Elapsed.TotalSeconds:F1} s; checkpoint {checkpointPath}"));
        return 0;
    }

    private static (float[] Scores, double Auc, double LogLoss) Evaluate(CtrTrainer trainer, EncodedSamples samples, float[]? values)
    {
        var scores = trainer.Predict(samples, values);
        if (scores.Length == 0)
        {
            return (scores, double.NaN, double.NaN);
        }

        var pairs = scores.Select((s, i) => ((double)s, (int)samples.Labels[i])).ToList();
        return (scores, BinaryMetrics.Auc(pairs), BinaryMetrics.LogLoss(pairs));
    }

    private static TrainerSettings Settings(ParsedArgs a) => new()
    {
        Threads = a.Has("threads") ? a.Int("threads", 1, 1024) : Environment.ProcessorCount,
        BatchSize = a.Int("batch", 1, 1 << 16),
        DenseLearningRate = Rate(a, "lr"),
        SparseLearningRate = Rate(a, "sparse-lr"),
        Seed = a.Int("seed"),
    };

    private static float Rate(ParsedArgs a, string name) =>
        float.TryParse(a.Require(name), NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r > 0 ? r : throw new UsageException($"option --{name}: needs a positive number");
}
