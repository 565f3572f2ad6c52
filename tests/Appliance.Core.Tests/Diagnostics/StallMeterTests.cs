using System.Diagnostics;
using Appliance.Core.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Core.Tests.Diagnostics;

/// <summary>The stall meter: the time every thread was stalled at once, over a table of gap
/// lists; a CPU shared with a busy thread shows up as lost time; a CPU the process may not use is
/// refused by name, with nothing measured.</summary>
public sealed class StallMeterTests
{
    public static TheoryData<string, long> Overlaps => new()
    {
        { "", 0 },                               // no threads
        { "0-10", 10 },                          // one thread: all its gaps
        { "0-10 20-25", 15 },
        { "0-10|10-20", 0 },                     // touching is not overlapping
        { "0-10|5-20", 5 },
        { "0-10 12-30|5-14 20-21 29-40", 5 + 2 + 1 + 1 },
        { "0-100|10-20 30-40|15-35", 5 + 5 },    // three threads: only where all three are stalled
        { "0-10|", 0 },                          // a thread that never stalled
    };

    [Theory]
    [MemberData(nameof(Overlaps))]
    public void AllAtOnceIsTheTimeEveryThreadWasInAGap(string lists, long expected)
    {
        var perThread = lists.Length == 0 ? [] : lists.Split('|').Select(list => (IReadOnlyList<StallGap>)list
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(g => g.Split('-'))
            .Select(g => new StallGap(long.Parse(g[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(g[1], System.Globalization.CultureInfo.InvariantCulture)))
            .ToList()).ToList();
        Assert.Equal(expected, StallMeter.AllAtOnce(perThread));
    }

    [Fact]
    public void ACpuSharedWithABusyThreadLosesTime()
    {
        var cpu = CpuAffinity.Allowed()[0];
        using var stop = new CancellationTokenSource();
        var rival = new Thread(() =>
        {
            Assert.True(CpuAffinity.TryPin(cpu, out var error), error);
            while (!stop.IsCancellationRequested)
            {
                Thread.SpinWait(1000);
            }
        }) { IsBackground = true };
        rival.Start();
        try
        {
            var duration = TimeSpan.FromSeconds(1);
            var report = StallMeter.Measure([cpu], duration, TimeSpan.FromMicroseconds(100));
            var c = Assert.Single(report.Cpus);
            Assert.Equal(cpu, c.Cpu);

            // The scheduler shares the CPU between the two spinning threads: the meter's thread is
            // off it for roughly half the run, in slices of milliseconds. Without the rival a few
            // percent at most is lost.
            Assert.True(c.Lost > duration * 0.2, $"lost only {c.Lost.TotalMilliseconds} ms of {duration.TotalMilliseconds}");
            Assert.True(c.Lost <= duration && c.Longest <= c.Lost, c.ToString());
            Assert.True(c.Gaps >= c.Over1Ms && c.Over1Ms >= c.Over5Ms && c.Over5Ms >= c.Over10Ms && c.Over1Ms > 0, c.ToString());
            Assert.False(c.Truncated);
        }
        finally
        {
            stop.Cancel();
            rival.Join();
        }
    }

    [Fact]
    public void AllAtOnceOfTwoCpusIsNoMoreThanEitherLost()
    {
        var cpus = CpuAffinity.Allowed();
        var report = StallMeter.Measure([cpus[0], cpus[^1]], TimeSpan.FromMilliseconds(300), TimeSpan.FromMicroseconds(50));
        Assert.Equal(2, report.Cpus.Count);
        Assert.True(report.AllAtOnce <= report.Cpus.Min(c => c.Lost), report.ToString());
    }

    [Fact]
    public void ACpuThisProcessMayNotUseIsRefusedByNumber()
    {
        var beyond = CpuAffinity.MaxCpus - 1;
        Assert.DoesNotContain(beyond, CpuAffinity.Allowed());
        var e = Assert.Throws<InvalidOperationException>(() => StallMeter.Measure([CpuAffinity.Allowed()[0], beyond], TimeSpan.FromSeconds(30), TimeSpan.FromMicroseconds(100)));
        Assert.Contains($"cpu {beyond} is not available", e.Message, StringComparison.Ordinal);
        Assert.False(CpuAffinity.TryPin(-1, out var error));
        Assert.Contains("outside", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSpinningThreadsRunForTheDurationAndNoLonger()
    {
        var clock = Stopwatch.StartNew();
        StallMeter.Measure([CpuAffinity.Allowed()[0]], TimeSpan.FromMilliseconds(200), TimeSpan.FromMicroseconds(100));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(20));
    }
}
