using System.Diagnostics;
using System.Globalization;
using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Formats;
using Appliance.Core.Storage;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary><c>cube train --stream SECONDS</c>: Monolith-style online training on top of an
/// exported base (<see cref="StreamingTrainer"/>).</summary>
internal static partial class TrainCommand
{
    /// <summary>What a stream run scored: each row's progressive score (from the export live when
    /// it arrived) and label, in file order.</summary>
    internal sealed record StreamResult(float[] Scores, byte[] Labels, int Patches, double Auc);

    private static int RunStream(ParsedArgs a)
    {
        var inv = CultureInfo.InvariantCulture;
        var seconds = double.TryParse(a.Require("stream"), NumberStyles.Float, inv, out var s) && s > 0 && s <= 86_400 * 365 ? s : throw new UsageException("option --stream: needs a positive number of seconds");
        var rate = double.TryParse(a.Require("rate"), NumberStyles.Float, inv, out var r) && r > 0 && r <= 1e9 ? r : throw new UsageException("option --rate: needs a positive number of rows per second");
        var intervalRows = (int)Math.Clamp(Math.Round(seconds * rate), 1, 10_000_000);
        foreach (var conflicting in new[] { "delta", "resume", "epochs", "holdout", "hash", "value-codec", "hidden", "dict" })
        {
            if (a.Has(conflicting))
            {
                throw new UsageException($"option --{conflicting}: not with --stream (a stream continues DIR's checkpoint and model as they are, one pass, every row scored before it is trained on)");
            }
        }

        var trainer = OpenStream(Path.GetFullPath(a.Require("out")), Settings(a));
        var dataPath = a.Require("data");
        Console.Out.WriteLine(string.Create(inv, $"stream   {dataPath} at {rate} rows/s: a patch and model every {seconds} s of traffic ({intervalRows} rows), from base {trainer.State.BaseId}"));
        var result = Stream(trainer, dataPath, intervalRows, rate, beforeTraining: null, afterExport: null, Console.Out);
        return result.Patches > 0 ? 0 : throw new UsageException($"option --data: {dataPath} has no rows");
    }

    /// <summary>A streaming trainer on <paramref name="outDir"/>'s checkpoint and last model.</summary>
    internal static StreamingTrainer OpenStream(string outDir, TrainerSettings settings)
    {
        var checkpointPath = Path.Combine(outDir, TrainerCheckpoint.FileName);
        var modelDir = Path.Combine(outDir, "model");
        if (!File.Exists(checkpointPath) || !File.Exists(Path.Combine(modelDir, ModelPackage.SpecFile)))
        {
            throw new UsageException($"--stream: {outDir} has no checkpoint and model; train and export a base into it first (cube train --data FILE --out {outDir})");
        }

        var spec = ModelPackage.ReadSpec(modelDir);
        if (!ValueCodecs.TryParse(spec.ValueCodec, out var codec))
        {
            throw new InputFormatException(Path.Combine(modelDir, ModelPackage.SpecFile), "field value_codec", $"'{spec.ValueCodec}' is not f32, f16 or i8");
        }

        return new StreamingTrainer(TrainerCheckpoint.Load(checkpointPath), settings, outDir, spec, codec);
    }

    /// <summary>Runs <paramref name="data"/> through the trainer interval by interval:
    /// score (<paramref name="beforeTraining"/> sees the interval then), train, export
    /// (<paramref name="afterExport"/> sees the patch). Writes stream.tsv (one line per interval)
    /// and stream.predictions (one score per row) beside the exports.</summary>
    internal static StreamResult Stream(
        StreamingTrainer trainer,
        string data,
        int intervalRows,
        double rate,
        Action<StreamingTrainer.Interval, long>? beforeTraining,
        Action<StreamingTrainer.Interval, TableExport.Result>? afterExport,
        TextWriter log)
    {
        var inv = CultureInfo.InvariantCulture;
        var outDir = trainer.OutDir;
        var clock = Stopwatch.StartNew();
        var scores = new List<float>();
        var labels = new List<byte>();
        var table = new StringBuilder("interval\tfirst_row\trows\ttraffic_seconds\tauc\tlog_loss\tpatch\tpatch_rows\n");
        var patches = 0;
        long row = 0;
        using var reader = TrainingData.Open(data);
        var lines = new List<string>(Math.Min(intervalRows, 1 << 16));
        while (true)
        {
            // Every line is a row, as in cube train: a blank one is reported as a bad row by its
            // line number, which is the row's.
            lines.Clear();
            while (lines.Count < intervalRows && reader.ReadLine() is { } text)
            {
                lines.Add(text);
            }

            if (lines.Count == 0)
            {
                break;
            }

            var batch = lines.ToArray();
            var interval = trainer.Score(batch, data, row + 1);
            beforeTraining?.Invoke(interval, row);
            var export = trainer.TrainAndExport(interval, data, row + 1);
            patches++;
            afterExport?.Invoke(interval, export);
            var pairs = interval.Scores.Select((p, i) => ((double)p, (int)interval.Labels[i])).ToList();
            var (auc, loss) = (BinaryMetrics.Auc(pairs), BinaryMetrics.LogLoss(pairs));
            table.Append(string.Create(inv, $"{interval.Index}\t{row}\t{batch.Length}\t{row / rate:F1}\t{auc:F4}\t{loss:F4}\t{export.Id}\t{export.Rows}\n"));
            scores.AddRange(interval.Scores);
            labels.AddRange(interval.Labels);
            if (interval.Index < 3 || interval.Index % 20 == 0)
            {
                log.WriteLine(string.Create(inv, $"interval {interval.Index,4}  rows {row}..{row + batch.Length}  AUC before training on them {auc:F4}  → patch {export.Id} ({export.Rows} rows) + model"));
            }

            row += batch.Length;
        }

        var all = scores.Select((p, i) => ((double)p, (int)labels[i])).ToList();
        var overall = all.Count > 1 ? BinaryMetrics.Auc(all) : double.NaN;
        AtomicFile.Write(Path.Combine(outDir, "stream.tsv"), Encoding.UTF8.GetBytes(table.ToString()));
        AtomicFile.Write(Path.Combine(outDir, "stream.predictions"), Encoding.UTF8.GetBytes(string.Concat(scores.Select(p => p.ToString("R", inv) + "\n"))));
        var best = GeneratedData.ReadTruth(data, 0, row) is { } truth
            ? string.Create(inv, $" (best achievable {BinaryMetrics.Auc(truth.Select((p, i) => (p, (int)labels[i])).ToList()):F4})")
            : string.Empty;
        log.WriteLine(string.Create(inv, $"stream   {row} rows in {patches} intervals, {patches} patches + models published in {clock.Elapsed.TotalSeconds:F1} s; progressive AUC {overall:F4}{best} (each row scored by the export before it); per interval in {outDir}/stream.tsv"));
        return new StreamResult(scores.ToArray(), labels.ToArray(), patches, overall);
    }
}
