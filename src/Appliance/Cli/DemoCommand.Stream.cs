using System.Diagnostics;
using System.Globalization;
using System.Text;
using Appliance.Core.Formats;
using Appliance.Core.Native;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary>
/// <c>cube demo --stream</c>: does freshness pay? Rows from a hidden model that drifts (gen-data
/// --drift); a base trained on the first part; then the same stream of later rows served three
/// ways, each by its own real deployment (<c>cube run --roles all</c>): with a patch and model every
/// 10 s of traffic, every 5 minutes, and the base alone. Traffic time is simulated (--rate rows
/// per second): every interval's rows are scored over HTTP by the version live when they arrive,
/// then trained on (cube train --stream's trainer), and the next interval waits until that patch
/// and its model are live. Served AUC of each cadence on the same rows, per minute in
/// freshness.tsv.
/// </summary>
internal static partial class DemoCommand
{
    /// <summary>One deployment's answers for the stream: served scores and the trainer's own
    /// scores for the same rows (they must agree), patches published, seconds to live.</summary>
    private sealed record Cadence(string Name, double Seconds, float[] Served, float[] Trainer, int Patches, List<double> LiveSeconds);

    /// <summary>The base's rows when --rows is not given: about as many as the stream's 30 minutes
    /// at 100 rows/s, so the base's own rows drift about as far as the stream's.</summary>
    private const int StreamBaseRows = 200_000;

    /// <summary>Rows of traffic the demo holds in memory (text, and three deployments' scores).</summary>
    private const long MaxStreamRows = 10_000_000;

    private static int RunStream(ParsedArgs a)
    {
        var rows = a.Has("rows") ? a.Int("rows", 1000, 100_000_000) : StreamBaseRows;
        var dir = Path.GetFullPath(a.Require("dir"));
        var httpPort = a.Int("http-port", 1, 65535);
        var port = a.Int("port", 1, 65535);
        var seed = a.Int("seed").ToString(Inv);
        var rate = double.TryParse(a.Require("rate"), NumberStyles.Float, Inv, out var r) && r is >= 1 and <= 1e6 ? r : throw new UsageException("option --rate: needs rows per second in [1, 1000000]");
        var drift = a.Require("drift");
        var minutes = a.Int("minutes", 1, 24 * 60);
        var cadences = a.Require("cadences").Split(',').Select(c => double.TryParse(c, NumberStyles.Float, Inv, out var v) && v >= 1 && v <= minutes * 60 ? v : throw new UsageException($"option --cadences: '{c}' is not a number of seconds in [1, {minutes * 60}]")).ToList();
        var streamRows = (long)(minutes * 60 * rate);
        if (streamRows is < 1 or > MaxStreamRows)
        {
            // Every deployment's answers are held for the comparison: the stream stays in memory.
            throw new UsageException($"options --minutes and --rate: {minutes} minutes at {rate} rows/s are {streamRows} rows; the demo streams 1 to {MaxStreamRows}");
        }

        var clock = Stopwatch.StartNew();
        PrepareDirectory(dir);
        var basePath = Path.Combine(dir, "data", "base.tsv");
        var streamPath = Path.Combine(dir, "data", "stream.tsv");
        var trainBase = Path.Combine(dir, "train-base");
        Directory.CreateDirectory(Path.GetDirectoryName(basePath)!);

        Step(clock, $"1. generate {rows} drifting rows for the base, then {streamRows} more of the same timeline ({minutes} minutes of traffic at {rate} rows/s)");
        Check(GenDataCommand.Run(["--rows", rows.ToString(Inv), "--out", basePath, "--seed", seed, "--drift", drift]));
        Check(GenDataCommand.Run(["--rows", streamRows.ToString(Inv), "--out", streamPath, "--seed", seed, "--drift", drift, "--from-row", rows.ToString(Inv), "--stream", "1"]));

        Step(clock, "2. train the CTR-DNN on the base rows and export a base and its model");
        Check(TrainCommand.Run(["--data", basePath, "--out", trainBase, "--epochs", a.Require("epochs"), "--hash", a.Require("hash")]));
        var baseId = LastId(Path.Combine(trainBase, "donefile", "base.txt"));

        var stream = File.ReadAllLines(streamPath).Where(l => l.Length > 0).ToArray();
        var runs = new List<Cadence>();
        var step = 3;
        foreach (var seconds in cadences.Append(0))
        {
            var name = seconds == 0 ? "base alone" : string.Create(Inv, $"patch every {seconds} s");
            var slug = seconds == 0 ? "base-alone" : string.Create(Inv, $"every-{seconds}s");
            Step(clock, $"{step++}. {name}: a copy of the base's exports served by cube run --roles all ({dir}/serve-{slug}.log), the stream scored over HTTP interval by interval{(seconds == 0 ? string.Empty : ", each interval trained on and published before the next")}");
            var train = Path.Combine(dir, "train-" + slug);
            CopyDirectory(trainBase, train);
            runs.Add(ServeStream(dir, slug, name, seconds, train, baseId, stream, streamPath, rate, httpPort, port));
        }

        return Report(dir, clock, runs, stream, streamPath, rate);
    }

    private static Cadence ServeStream(string dir, string slug, string name, double seconds, string train, string baseId, string[] stream, string streamPath, double rate, int httpPort, int port)
    {
        using var serve = StartServing(dir, train, httpPort, port, "serve-" + slug);
        try
        {
            var status = $"http://127.0.0.1:{httpPort}/status";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            WaitFor(http, status, serve, s => Live(s) == baseId && ModelVersion(s) == baseId, TimeSpan.FromSeconds(120));
            var trainer = TrainCommand.OpenStream(train, new TrainerSettings());
            var served = new List<float>(stream.Length);
            var own = new List<float>(stream.Length);
            var liveSeconds = new List<double>();
            var patches = 0;
            void ScoreServed(StreamingTrainer.Interval interval)
            {
                var summary = PredictCommand.ScoreAsync($"127.0.0.1:{httpPort}", [.. interval.Lines], 32, 2, null, report: TextWriter.Null).GetAwaiter().GetResult();
                if (summary.Refused > 0)
                {
                    throw new InvalidOperationException($"{name}: {summary.Refused} of {interval.Lines.Count} rows of interval {interval.Index} refused by the deployment; see serve-{slug}.log");
                }

                served.AddRange(summary.Scores.Select(v => v!.Value));
                own.AddRange(interval.Scores);
            }

            if (seconds == 0)
            {
                // The base alone: the same intervals (a minute each), nothing trained or published.
                var minute = (int)Math.Max(1, 60 * rate);
                for (var first = 0; first < stream.Length; first += minute)
                {
                    ScoreServed(trainer.Score(stream[first..Math.Min(stream.Length, first + minute)], streamPath, first + 1));
                }
            }
            else
            {
                var intervalRows = (int)Math.Max(1, Math.Round(seconds * rate));
                TrainCommand.Stream(trainer, streamPath, intervalRows, rate, (interval, _) => ScoreServed(interval), (_, export) =>
                {
                    patches++;
                    liveSeconds.Add(WaitFor(http, status, serve, s => Live(s) == $"{baseId}_{export.Id}" && ModelVersion(s) == export.Id, TimeSpan.FromSeconds(120)).TotalSeconds);
                }, TextWriter.Null);
            }

            ProcessSignal.Terminate(serve.Id);
            if (!serve.WaitForExit(30_000) || serve.ExitCode != 0)
            {
                throw new InvalidOperationException($"{name}: cube run did not stop cleanly on SIGTERM; see serve-{slug}.log");
            }

            var result = new Cadence(name, seconds, [.. served], [.. own], patches, liveSeconds);
            Console.Out.WriteLine(string.Create(Inv, $"   {name}: {stream.Length} rows served, AUC {Auc(result.Served, stream)}{(patches > 0 ? $", {patches} patches + models live in {Median(liveSeconds):F2} s (median) after each was published" : string.Empty)}"));
            return result;
        }
        finally
        {
            if (!serve.HasExited)
            {
                serve.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The summary table, freshness.tsv (AUC per minute of traffic and cadence), and the
    /// exit status: 0 only if every deployment answered what its trainer computed.</summary>
    private static int Report(string dir, Stopwatch clock, List<Cadence> runs, string[] stream, string streamPath, double rate)
    {
        var labels = stream.Select(l => l[0] == '1' ? 1 : 0).ToArray();
        var truth = GeneratedData.ReadTruth(streamPath, 0, stream.Length);
        var best = truth is null ? double.NaN : BinaryMetrics.Auc(truth.Select((p, i) => (p, labels[i])).ToList());
        var minute = (int)Math.Max(1, 60 * rate);
        var tsv = new StringBuilder("minute\trows\tbest" + string.Concat(runs.Select(c => "\t" + c.Name.Replace(' ', '_'))) + "\n");
        for (var first = 0; first < stream.Length; first += minute)
        {
            var end = Math.Min(stream.Length, first + minute);
            var window = Enumerable.Range(first, end - first).ToArray();
            var bestHere = truth is null ? double.NaN : BinaryMetrics.Auc(window.Select(i => (truth[i], labels[i])).ToList());
            tsv.Append(string.Create(Inv, $"{first / minute + 1}\t{end - first}\t{bestHere:F4}"));
            foreach (var c in runs)
            {
                tsv.Append(string.Create(Inv, $"\t{BinaryMetrics.Auc(window.Select(i => ((double)c.Served[i], labels[i])).ToList()):F4}"));
            }

            tsv.Append('\n');
        }

        AtomicFile.Write(Path.Combine(dir, "freshness.tsv"), Encoding.UTF8.GetBytes(tsv.ToString()));
        Console.Out.WriteLine();
        Console.Out.WriteLine(string.Create(Inv, $"summary: the same {stream.Length} rows ({stream.Length / rate / 60:F0} minutes of drifting traffic), scored over HTTP by the version live when they arrived"));
        Console.Out.WriteLine("  deployment                 patches  served AUC   vs base alone   served vs its trainer, max |difference|");
        var baseAuc = BinaryMetrics.Auc(runs.Last().Served.Select((s, i) => ((double)s, labels[i])).ToList());
        var exact = true;
        foreach (var c in runs)
        {
            var auc = BinaryMetrics.Auc(c.Served.Select((s, i) => ((double)s, labels[i])).ToList());
            var diff = c.Served.Select((s, i) => Math.Abs(s - c.Trainer[i])).DefaultIfEmpty(0).Max();
            exact &= diff <= 1e-5;
            Console.Out.WriteLine(string.Create(Inv, $"  {c.Name,-26} {c.Patches,7}  {auc,10:F4}   {auc - baseAuc,+13:+0.0000;-0.0000;0}   {diff:G3}"));
        }

        Console.Out.WriteLine(string.Create(Inv, $"  best achievable (the hidden model's own probabilities)   {best:F4}"));
        Console.Out.WriteLine(string.Create(Inv, $"  per minute: {dir}/freshness.tsv; whole demo {clock.Elapsed.TotalSeconds:F0} s"));
        if (!exact)
        {
            Console.Error.WriteLine("error: a deployment answered other scores than its trainer computed for the version it served");
        }

        return exact ? 0 : 1;
    }

    private static string Auc(float[] scores, string[] lines) =>
        BinaryMetrics.Auc(scores.Select((s, i) => ((double)s, lines[i][0] == '1' ? 1 : 0)).ToList()).ToString("F4", Inv);

    private static double Median(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);

    private static void CopyDirectory(string from, string to)
    {
        foreach (var source in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, source));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target);
        }
    }
}
