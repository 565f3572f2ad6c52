using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Engine;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary>
/// <c>cube predict --engine HOST:PORT --data FILE</c>: sends a Criteo file to an engine's
/// POST /predict in batches from several connections; prints AUC and log loss when the file is
/// labelled, throughput, and latency percentiles; optionally writes the scores. With
/// <c>--in-process</c> the same file is scored by the engine's own code in this process, one
/// thread, no HTTP: the figure an engine over the wire is measured against.
/// </summary>
internal static partial class PredictCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("engine", "the engine's HTTP address", "127.0.0.1:8010", Meta: "HOST:PORT"),
        new("data", "Criteo lines (40 fields labelled, or 39)", Meta: "FILE"),
        new("batch", "samples per request", "32", Meta: "N"),
        new("connections", "requests in flight", "4", Meta: "C"),
        new("out", "write one score per line (ERROR<TAB>reason for a refused sample)", Meta: "FILE"),
        new("protocol", "predict (POST /predict), oip (Open Inference Protocol JSON), oip-binary (its binary tensor data extension) or grpc (the protocol over gRPC: --engine is the engine's --grpc-port)", "predict", Meta: "P"),
        new("model", "with oip: the model (variant) to call", "model", Meta: "NAME"),
        new("in-process", "score in this process, one thread, no HTTP (needs --model-dir and --data-dir; no --engine)", IsFlag: true),
        new("model-dir", "--in-process: the model package directory", Meta: "DIR"),
        new("data-dir", "--in-process: the table's packages (the newest version of the model's dict, every shard found)", Meta: "DIR"),
        new("in_mem", "--in-process: load the table into memory instead of mapping it", "true", Meta: "BOOL"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube predict --engine HOST:PORT --data FILE [options]", "Scores a Criteo file on an engine: AUC and log loss (labelled data), QPS, latency.", Options));
            return 0;
        }

        var lines = File.ReadAllLines(a.Require("data")).Where(l => l.Length > 0).ToArray();
        var batch = a.Int("batch", 1, 100_000);
        if (a.Flag("in-process"))
        {
            if (a.Has("engine") || a.Has("connections") || a.Has("protocol") || a.Has("model"))
            {
                throw new UsageException("--in-process scores in this process, one thread: no --engine, --connections, --protocol or --model");
            }

            return ScoreInProcess(a.Require("model-dir"), a.Require("data-dir"), a.Flag("in_mem"), lines, batch, a.Get("out")).Refused == 0 ? 0 : 1;
        }

        if (a.Has("model-dir") || a.Has("data-dir"))
        {
            throw new UsageException("--model-dir and --data-dir go with --in-process");
        }

        var connections = a.Int("connections", 1, 1024);
        var engine = a.Require("engine");
        if (!Core.Net.NodeAddress.TryParse(engine, out _))
        {
            throw new UsageException($"option --engine: '{engine}' is not HOST:PORT");
        }

        Summary summary;
        try
        {
            summary = ScoreAsync(engine, lines, batch, connections, a.Get("out"), PredictProtocol.Create(a.Require("protocol"), a.Require("model"))).GetAwaiter().GetResult();
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"cannot reach the engine at {engine}: {e.Message}", e);
        }
        catch (TaskCanceledException e)
        {
            throw new IOException($"the engine at {engine} did not answer within 60 s", e);
        }

        // Exit 1 when any sample was refused: a script must not take a partial run for a whole one.
        return summary.Refused == 0 ? 0 : 1;
    }

    /// <summary>What a run measured (AUC and log loss are NaN for unlabelled data).</summary>
    internal sealed record Summary(int Scored, int FailedRequests, double Auc, double LogLoss, double SamplesPerSecond, long P50, long P99, float?[] Scores)
    {
        public int Refused => Scores.Length - Scored;
    }

    /// <summary>Scores <paramref name="lines"/> on the engine, prints the report, returns it.</summary>
    internal static async Task<Summary> ScoreAsync(string engine, string[] lines, int batch, int connections, string? outPath, PredictProtocol? protocol = null, TextWriter? report = null)
    {
        protocol ??= PredictProtocol.Create("predict", "model");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{engine}/"), Timeout = TimeSpan.FromSeconds(60) };
        var scores = new float?[lines.Length];
        var errors = new string?[lines.Length];
        var latency = new LatencyRecorder();
        var next = -1;
        var batches = (lines.Length + batch - 1) / batch;
        var failures = 0;
        var degraded = 0;
        var clock = Stopwatch.StartNew();
        var answered = 0L;
        using var progress = ProgressMeter.ForConsole(() =>
        {
            var done = Interlocked.Read(ref answered);
            return $"predict: {ProgressMeter.Count(done)} of {ProgressMeter.Count(lines.Length)} samples ({ProgressMeter.Count(done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3))}/s), {Volatile.Read(ref failures)} failed request(s) {ProgressMeter.Eta(done, lines.Length, clock.Elapsed)}".TrimEnd();
        });
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches)
            {
                var start = b * batch;
                var slice = lines.Skip(start).Take(batch).ToList();
                var began = Stopwatch.GetTimestamp();
                var body = await protocol.SendAsync(http, slice).ConfigureAwait(false);
                Interlocked.Add(ref answered, slice.Count);
                if (body.Failure is { } failure)
                {
                    Interlocked.Increment(ref failures);
                    for (var i = 0; i < slice.Count; i++)
                    {
                        errors[start + i] = failure;
                    }

                    continue;
                }

                latency.Record(Stopwatch.GetElapsedTime(began).TotalMicroseconds);
                if (body.UnavailableKeys > 0)
                {
                    Interlocked.Add(ref degraded, slice.Count);
                }

                for (var i = 0; i < slice.Count; i++)
                {
                    scores[start + i] = body.Scores[i];
                    errors[start + i] = body.Errors[i];
                }
            }
        })).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        progress.Dispose(); // the report below replaces the progress line
        return await ReportAsync(lines, scores, errors, failures, degraded, latency, seconds, batches, $"batch {batch}, {connections} connection(s)", outPath, report ?? Console.Out).ConfigureAwait(false);
    }

    /// <summary>Writes --out, prints the report to <paramref name="report"/> (refusals and degraded
    /// answers to stderr, always), returns it: the same lines for both modes.</summary>
    private static async Task<Summary> ReportAsync(string[] lines, float?[] scores, string?[] errors, int failures, int degraded, LatencyRecorder latency, double seconds, int requests, string how, string? outPath, TextWriter report)
    {
        if (outPath is not null)
        {
            await File.WriteAllLinesAsync(outPath, scores.Select((s, i) => s is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : $"ERROR\t{errors[i]}")).ConfigureAwait(false);
        }

        var scored = scores.Count(s => s is not null);
        var inv = CultureInfo.InvariantCulture;
        report.WriteLine(string.Create(inv, $"samples  {lines.Length}  scored {scored}  refused {lines.Length - scored}  ({how})"));
        if (scored < lines.Length)
        {
            var first = Array.FindIndex(scores, v => v is null);
            Console.Error.WriteLine($"error: {lines.Length - scored} of {lines.Length} sample(s) refused; the first, sample {first + 1}: {errors[first] ?? "no reason given"}");
        }

        if (degraded > 0)
        {
            Console.Error.WriteLine($"warning: {degraded} sample(s) scored with zero vectors for keys of a failed shard (the engine runs --on-shard-failure zero; its /status says which)");
        }

        var labelled = lines.Select(l => l.Split('\t')).Select(f => f.Length == 40 && f[0] is "0" or "1" ? (int?)(f[0] == "1" ? 1 : 0) : null).ToArray();
        double auc = double.NaN, logLoss = double.NaN;
        if (labelled.All(l => l is not null) && scored > 0)
        {
            var pairs = scores.Select((s, i) => (s, labelled[i]!.Value)).Where(x => x.s is not null).Select(x => ((double)x.s!.Value, x.Value)).ToList();
            (auc, logLoss) = (BinaryMetrics.Auc(pairs), BinaryMetrics.LogLoss(pairs));
            report.WriteLine(string.Create(inv, $"AUC      {auc:F4}   log loss {logLoss:F4}"));
        }

        var p = latency.Percentiles(50, 90, 99, 99.9);
        report.WriteLine(string.Create(inv, $"QPS      {scored / seconds:F0} samples/s  {requests / seconds:F0} requests/s"));
        report.WriteLine(string.Create(inv, $"latency  p50 {p[0]} us  p90 {p[1]} us  p99 {p[2]} us  p99.9 {p[3]} us (per request)"));
        return new Summary(scored, failures, auc, logLoss, scored / seconds, p[0], p[2], scores);
    }
}
