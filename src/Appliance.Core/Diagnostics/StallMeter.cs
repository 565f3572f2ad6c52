using System.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Core.Diagnostics;

/// <summary>
/// How much of its time a busy process loses on this machine, measured rather than guessed: one
/// thread per CPU, pinned, reads the clock in a tight loop for the whole run; any gap between two
/// reads longer than the threshold is time that thread did not run (an interrupt, another task,
/// or — on a VM — the host running something else on that CPU). Load-test tails are made of such
/// gaps: a server stalled for 10 ms at 75 % load needs another 30 ms to drain what queued meanwhile.
/// From inside a guest this is the only view of host preemption: these VMs report no steal time.
/// The loop allocates nothing (a collection would stop every thread at once and look like the host).
/// </summary>
internal static class StallMeter
{
    /// <summary>Gaps kept per CPU for <see cref="AllAtOnce"/> (16 bytes each); later ones are
    /// still counted.</summary>
    public const int KeptGaps = 1 << 16;

    /// <summary>Spins one thread on each of <paramref name="cpus"/> for <paramref name="duration"/>,
    /// all starting together. Throws <see cref="InvalidOperationException"/> naming the CPU when one
    /// cannot be pinned (nothing is measured then).</summary>
    public static StallReport Measure(IReadOnlyList<int> cpus, TimeSpan duration, TimeSpan threshold)
    {
        ArgumentOutOfRangeException.ThrowIfZero(cpus.Count);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);
        var thresholdTicks = Math.Max(1, (long)(threshold.TotalSeconds * Stopwatch.Frequency));
        var durationTicks = (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var gaps = cpus.Select(_ => new StallGap[KeptGaps]).ToArray();
        var counts = new Counts[cpus.Count];
        var errors = new string?[cpus.Count];
        using var ready = new Barrier(cpus.Count);
        var threads = new Thread[cpus.Count];
        for (var i = 0; i < cpus.Count; i++)
        {
            var index = i;
            threads[i] = new Thread(() => counts[index] = Spin(cpus[index], gaps[index], errors, index, ready, durationTicks, thresholdTicks))
            {
                IsBackground = true,
                Name = $"stall meter {cpus[i]}",
            };
            threads[i].Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        var failed = errors.FirstOrDefault(e => e is not null);
        if (failed is not null)
        {
            throw new InvalidOperationException(failed);
        }

        var perCpu = cpus.Select((cpu, i) => new CpuStalls(
            cpu,
            counts[i].Gaps,
            Stopwatch.GetElapsedTime(0, counts[i].LostTicks),
            Stopwatch.GetElapsedTime(0, counts[i].LongestTicks),
            counts[i].Over1Ms,
            counts[i].Over5Ms,
            counts[i].Over10Ms,
            counts[i].Gaps > KeptGaps)).ToList();
        var kept = gaps.Select((g, i) => (IReadOnlyList<StallGap>)new ArraySegment<StallGap>(g, 0, (int)Math.Min(counts[i].Gaps, KeptGaps))).ToList();
        return new StallReport(duration, threshold, perCpu, Stopwatch.GetElapsedTime(0, AllAtOnce(kept)));
    }

    /// <summary>Ticks in which every list had a gap open at once (each list sorted by start, its
    /// gaps not overlapping one another, as one thread's are).</summary>
    public static long AllAtOnce(IReadOnlyList<IReadOnlyList<StallGap>> perThread)
    {
        if (perThread.Count == 0)
        {
            return 0;
        }

        // A sweep over every start (+1) and end (-1): time with all threads inside a gap. An end
        // sorts before a start at the same tick, so touching gaps do not count as overlapping.
        var events = new List<(long At, int Delta)>();
        foreach (var list in perThread)
        {
            foreach (var gap in list)
            {
                events.Add((gap.Start, 1));
                events.Add((gap.End, -1));
            }
        }

        events.Sort();
        long total = 0;
        var open = 0;
        long since = 0;
        foreach (var (at, delta) in events)
        {
            if (open == perThread.Count)
            {
                total += at - since;
            }

            open += delta;
            since = at;
        }

        return total;
    }

    private static Counts Spin(int cpu, StallGap[] gaps, string?[] errors, int index, Barrier ready, long durationTicks, long thresholdTicks)
    {
        if (!CpuAffinity.TryPin(cpu, out var error))
        {
            errors[index] = error;
        }

        ready.SignalAndWait();
        var counts = default(Counts);
        if (errors.Any(e => e is not null))
        {
            return counts; // one thread could not be pinned: measure nothing
        }

        var oneMs = Stopwatch.Frequency / 1000;
        var previous = Stopwatch.GetTimestamp();
        var end = previous + durationTicks;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            var gap = now - previous;
            if (gap > thresholdTicks)
            {
                if (counts.Gaps < gaps.Length)
                {
                    gaps[counts.Gaps] = new StallGap(previous, now);
                }

                counts.Gaps++;
                counts.LostTicks += gap;
                counts.LongestTicks = Math.Max(counts.LongestTicks, gap);
                counts.Over1Ms += gap > oneMs ? 1 : 0;
                counts.Over5Ms += gap > 5 * oneMs ? 1 : 0;
                counts.Over10Ms += gap > 10 * oneMs ? 1 : 0;
            }

            previous = now;
            if (now >= end)
            {
                return counts;
            }
        }
    }

    private struct Counts
    {
        public long Gaps;
        public long LostTicks;
        public long LongestTicks;
        public long Over1Ms;
        public long Over5Ms;
        public long Over10Ms;
    }
}
