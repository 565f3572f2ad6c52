using System.Globalization;
using Appliance.Core.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Cli;

internal static partial class BenchCommand
{
    private static readonly OptionSpec[] StallOptions =
    [
        new("cpus", "CPUs to spin on, one thread each (e.g. 0,1)", "every CPU this process may use", Meta: "LIST"),
        new("duration", "seconds to spin", "10", Meta: "S"),
        new("threshold-us", "a gap between two clock reads longer than this counts as a stall", "100", Meta: "US"),
        new("wakes", "then, with two or more CPUs: wake a thread blocked on the first CPU from the second this many times (0 = skip)", "2000", Meta: "N"),
        new("idle-us", "--wakes: how long both CPUs stay idle before each wake-up", "1000", Meta: "US"),
    ];

    /// <summary>
    /// <c>cube bench stalls</c>: how much time a busy thread on each CPU loses here (see
    /// <see cref="StallMeter"/>). Run it before believing a latency curve: a machine whose CPUs stop
    /// for milliseconds at a time cannot show a sub-millisecond p99, whatever the server does.
    /// Exit 0 (the figures are the answer), 2 for bad options.
    /// </summary>
    private static int RunStalls(string[] args)
    {
        var a = ParsedArgs.Parse(args, StallOptions);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube bench stalls [--cpus 0,1] [--duration 10] [--threshold-us 100] [--wakes 2000] [--idle-us 1000]", "Spins one pinned thread per CPU and prints the time each lost in gaps (interrupts, other tasks, a VM's host) and the time all lost at once; then how long a thread blocked on one idle CPU takes to run when another CPU wakes it.", StallOptions));
            return 0;
        }

        var allowed = CpuAffinity.Allowed();
        var cpus = a.Has("cpus") ? ParseCpus(a.Require("cpus"), allowed) : allowed;
        var duration = TimeSpan.FromSeconds(a.Long("duration", 1, 3600));
        var threshold = TimeSpan.FromMicroseconds(a.Long("threshold-us", 1, 1_000_000));
        var wakes = a.Int("wakes", 0, 100_000);
        var idle = TimeSpan.FromMicroseconds(a.Long("idle-us", 1, 100_000));
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Create(inv, $"stalls: {cpus.Count} thread(s) spinning on cpu {string.Join(",", cpus)} for {duration.TotalSeconds:F0} s; a gap over {threshold.TotalMicroseconds:F0} us between two clock reads counts"));
        var report = StallMeter.Measure(cpus, duration, threshold);
        foreach (var c in report.Cpus)
        {
            Console.Out.WriteLine(string.Create(inv, $"cpu {c.Cpu}: lost {c.Lost.TotalMilliseconds:F1} ms ({c.Lost / duration * 100:F2} %) in {c.Gaps} gaps; over 1 ms {c.Over1Ms}, over 5 ms {c.Over5Ms}, over 10 ms {c.Over10Ms}; longest {c.Longest.TotalMilliseconds:F2} ms{(c.Truncated ? $" (only the first {StallMeter.KeptGaps} gaps count below)" : string.Empty)}"));
        }

        if (report.Cpus.Count > 1)
        {
            Console.Out.WriteLine(string.Create(inv, $"every cpu at once: {report.AllAtOnce.TotalMilliseconds:F1} ms ({report.AllAtOnce / duration * 100:F2} %)"));
        }

        if (cpus.Count > 1 && wakes > 0)
        {
            var w = WakeMeter.Measure(cpus[1], cpus[0], wakes, idle);
            Console.Out.WriteLine(string.Create(inv, $"wake-ups cpu {w.From} -> cpu {w.To} after {w.Idle.TotalMicroseconds:F0} us idle, {w.Count} times: p50 {w.P50Us:F1} us, p99 {w.P99Us:F1} us, p99.9 {w.P999Us:F1} us, max {w.MaxUs:F1} us"));
        }

        return 0;
    }

    /// <summary>"0,1" or "0-3": each CPU once, every one among those this process may use.</summary>
    private static List<int> ParseCpus(string text, IReadOnlyList<int> allowed)
    {
        var cpus = new List<int>();
        foreach (var part in text.Split(','))
        {
            var range = part.Split('-');
            if (range.Length is < 1 or > 2
                || !int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                || !int.TryParse(range[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
                || last < first)
            {
                throw new UsageException($"option --cpus: '{part}' is not a CPU number or a range like 0-3");
            }

            for (var cpu = first; cpu <= last; cpu++)
            {
                if (!allowed.Contains(cpu))
                {
                    throw new UsageException($"option --cpus: cpu {cpu} is not available to this process (it may use {string.Join(",", allowed)})");
                }

                if (!cpus.Contains(cpu))
                {
                    cpus.Add(cpu);
                }
            }
        }

        return cpus;
    }
}
