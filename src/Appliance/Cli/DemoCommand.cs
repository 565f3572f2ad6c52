using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Appliance.Core.Native;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary>
/// <c>cube demo</c>: the whole pipeline on this machine with the real commands, in order —
/// gen-data, train (base), <c>cube run --roles all</c> in the background, wait until the base is
/// active, train on fresh rows (delta), wait until the delta and the new model are live, predict
/// the held-out rows over HTTP, compare with the best achievable AUC and with the trainer's own
/// predictions, stop the server with SIGTERM.
/// </summary>
internal static partial class DemoCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static readonly OptionSpec[] Options =
    [
        new("rows", "rows of generated training data (a fifth more for the delta); with --stream the base's rows (default 200000)", "1000000", Meta: "N"),
        new("dir", "working directory (data, training output, serving state, logs); emptied first if an earlier demo made it", "./demo-work", Meta: "DIR"),
        new("epochs", "training epochs of the base", "2", Meta: "N"),
        new("http-port", "HTTP port of cube run --roles all (/predict, /status, /metrics)", "8010", Meta: "PORT"),
        new("port", "binary data-plane port of cube run --roles all", "8000", Meta: "PORT"),
        new("seed", "hidden model and data seed", "7", Meta: "S"),
        new("hash", "feature hashing: paddle or xxh64", "paddle", Meta: "SCHEME"),
        new("stream", "freshness instead: drifting rows, a base, then online training (cube train --stream) served with a patch every --cadences seconds of traffic and with the base alone; served AUC of each on the same rows", IsFlag: true),
        new("cadences", "with --stream: seconds of traffic between patches, one deployment each", "10,300", Meta: "S,S,…"),
        new("minutes", "with --stream: minutes of traffic after the base", "30", Meta: "M"),
        new("rate", "with --stream: rows per second of traffic", "100", Meta: "ROWS"),
        new("drift", "with --stream: how fast the hidden model changes (cube gen-data --drift)", "0.5", Meta: "D"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube demo [--rows N] [--dir DIR]", "Runs the whole pipeline on this machine: data, training, serving (all roles), delta, prediction.", Options));
            return 0;
        }

        if (a.Flag("stream"))
        {
            return RunStream(a);
        }

        var rows = a.Int("rows", 1000, 100_000_000);
        var dir = Path.GetFullPath(a.Require("dir"));
        var httpPort = a.Int("http-port", 1, 65535);
        var port = a.Int("port", 1, 65535);
        var seed = a.Int("seed").ToString(Inv);
        var hash = a.Require("hash");
        var clock = Stopwatch.StartNew();
        PrepareDirectory(dir);
        var data = Path.Combine(dir, "data", "train.tsv");
        var fresh = Path.Combine(dir, "data", "fresh.tsv");
        var train = Path.Combine(dir, "train");
        Directory.CreateDirectory(Path.GetDirectoryName(data)!);

        Step(clock, $"1. generate {rows} labelled rows, and {rows / 5} fresh rows of the same hidden model for the delta");
        Check(GenDataCommand.Run(["--rows", rows.ToString(Inv), "--out", data, "--seed", seed]));
        Check(GenDataCommand.Run(["--rows", (rows / 5).ToString(Inv), "--out", fresh, "--seed", seed, "--stream", "1"]));

        Step(clock, "2. train the CTR-DNN and export a base (SequenceFile + donefile line) and the model package");
        Check(TrainCommand.Run(["--data", data, "--out", train, "--epochs", a.Require("epochs"), "--hash", hash]));
        var baseId = LastId(Path.Combine(train, "donefile", "base.txt"));

        Step(clock, $"3. start cube run --roles all (transfer, server, agent, engine) on 127.0.0.1:{httpPort}; log in {dir}/serve.log");
        using var serve = StartServing(dir, train, httpPort, port);
        try
        {
            var status = $"http://127.0.0.1:{httpPort}/status";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var live = WaitFor(http, status, serve, s => Live(s) == baseId, TimeSpan.FromSeconds(120));
            Console.Out.WriteLine($"   base {baseId} is active after {live.TotalSeconds:F1} s (curl {status})");

            Step(clock, "4. train one epoch on the fresh rows and export a delta of the rows it touched");
            Check(TrainCommand.Run(["--data", fresh, "--out", train, "--epochs", "1", "--delta", "--holdout", "0"]));
            var deltaId = LastId(Path.Combine(train, "donefile", "patch.txt"));
            live = WaitFor(http, status, serve, s => Live(s) == $"{baseId}_{deltaId}" && ModelVersion(s) == deltaId, TimeSpan.FromSeconds(120));
            Console.Out.WriteLine($"   delta {deltaId} and the new model are live after {live.TotalSeconds:F1} s");

            Step(clock, "5. predict the held-out rows over HTTP (cube predict)");
            var holdout = Path.Combine(train, "holdout.tsv");
            var lines = File.ReadAllLines(holdout).Where(l => l.Length > 0).ToArray();
            var summary = PredictCommand.ScoreAsync($"127.0.0.1:{httpPort}", lines, 32, 2, Path.Combine(dir, "served.txt")).GetAwaiter().GetResult();
            var trainer = File.ReadAllLines(Path.Combine(train, "holdout.predictions")).Select(l => float.Parse(l, Inv)).ToArray();
            var maxDiff = summary.Scores.Select((s, i) => s is { } v ? Math.Abs(v - trainer[i]) : float.PositiveInfinity).Max();
            var heldOutRows = TrainingData.HeldOutCount(rows, 0.1);
            var truth = GeneratedData.ReadTruth(data, rows - heldOutRows, heldOutRows);
            var labels = lines.Select(l => l[0] == '1' ? 1 : 0).ToArray();
            var best = truth is null ? double.NaN : BinaryMetrics.Auc(truth.Select((p, i) => (p, labels[i])).ToList());

            Step(clock, "6. stop (SIGTERM: drain and exit)");
            ProcessSignal.Terminate(serve.Id);
            var stopped = serve.WaitForExit(30_000);
            Console.Out.WriteLine($"   cube run exited {(stopped ? serve.ExitCode.ToString(Inv) : "— did not stop within 30 s")}");

            Console.Out.WriteLine();
            Console.Out.WriteLine("summary");
            Console.Out.WriteLine(string.Create(Inv, $"  held-out AUC       {summary.Auc:F4} served  vs  {best:F4} best achievable  ({summary.Auc / best:P1})"));
            Console.Out.WriteLine(string.Create(Inv, $"  served vs trainer  max |difference| {maxDiff:G3} over {summary.Scored} rows"));
            Console.Out.WriteLine(string.Create(Inv, $"  throughput         {summary.SamplesPerSecond:F0} samples/s (batch 32, 2 connections), latency p50 {summary.P50} us, p99 {summary.P99} us"));
            Console.Out.WriteLine(string.Create(Inv, $"  whole demo         {clock.Elapsed.TotalSeconds:F0} s; files in {dir}"));
            var ok = stopped && serve.ExitCode == 0 && summary.FailedRequests == 0 && maxDiff <= 1e-5;
            return ok ? 0 : 1;
        }
        finally
        {
            if (!serve.HasExited)
            {
                serve.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Creates <paramref name="dir"/>, emptying it first only if an earlier demo made it
    /// (it holds the marker).</summary>
    private static void PrepareDirectory(string dir)
    {
        var marker = Path.Combine(dir, ".cube-demo");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!File.Exists(marker))
            {
                throw new UsageException($"option --dir: {dir} is not empty and was not made by cube demo; choose another directory");
            }

            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
        File.WriteAllText(marker, "made by cube demo; emptied by the next run\n");
    }

    private static Process StartServing(string dir, string train, int httpPort, int port, string name = "serve")
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable's path to start cube run");
        var info = new ProcessStartInfo(self)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "run", "--roles", "all", "--model", Path.Combine(train, "model"), "--donefile", Path.Combine(train, "donefile"),
            "--work-dir", Path.Combine(dir, name), "--bind", "127.0.0.1", "--http-port", httpPort.ToString(Inv), "--port", port.ToString(Inv), "--poll-seconds", "1",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start cube run");
        var log = new StreamWriter(Path.Combine(dir, name + ".log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is not null)
        {
            lock (log)
            {
                log.WriteLine(line);
            }
        }
    }

    /// <summary>Polls /status until <paramref name="done"/> holds; fails if the server exits or
    /// the time runs out.</summary>
    private static TimeSpan WaitFor(HttpClient http, string url, Process serve, Func<JsonElement, bool> done, TimeSpan limit)
    {
        var started = Stopwatch.StartNew();
        while (started.Elapsed < limit)
        {
            if (serve.HasExited)
            {
                throw new InvalidOperationException($"cube run exited with {serve.ExitCode}; see serve.log");
            }

            try
            {
                using var doc = JsonDocument.Parse(http.GetStringAsync(url).GetAwaiter().GetResult());
                if (done(doc.RootElement))
                {
                    return started.Elapsed;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
            {
                // not listening yet
            }

            Thread.Sleep(200);
        }

        throw new InvalidOperationException($"{url} did not reach the expected state within {limit.TotalSeconds:F0} s; see serve.log");
    }

    private static string? Live(JsonElement status) =>
        status.TryGetProperty("agent", out var agent) && agent.TryGetProperty("live_version", out var v) ? v.GetString() : null;

    private static string? ModelVersion(JsonElement status) =>
        status.TryGetProperty("engine", out var engine) && engine.TryGetProperty("model_version", out var v) ? v.GetString() : null;

    private static string LastId(string donefile) =>
        Core.Formats.DonefileEntry.Parse(File.ReadLines(donefile).Last(l => l.Length > 0), donefile, 0).Id;

    private static void Step(Stopwatch clock, string text)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine(string.Create(Inv, $"[{clock.Elapsed.TotalSeconds,5:F1} s] {text}"));
    }

    private static void Check(int exitCode)
    {
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"a step failed (exit {exitCode})");
        }
    }
}
