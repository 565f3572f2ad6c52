using Appliance.Core.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Core.Tests.Diagnostics;

/// <summary>The wake-up meter: every wake-up is measured once, the percentiles are in order and
/// include the idle time's wake-up only (not the idle itself); a CPU that cannot be used is refused
/// by name, without hanging the thread left waiting.</summary>
public sealed class WakeMeterTests
{
    [Fact]
    public void PercentilesOfEveryWakeUpAreInOrder()
    {
        var cpus = CpuAffinity.Allowed();
        var idle = TimeSpan.FromMilliseconds(2);
        var report = WakeMeter.Measure(cpus[^1], cpus[0], 50, idle);
        Assert.Equal((cpus[^1], cpus[0], 50), (report.From, report.To, report.Count));
        Assert.True(report.P50Us > 0 && report.P50Us <= report.P99Us && report.P99Us <= report.P999Us && report.P999Us <= report.MaxUs, report.ToString());

        // The clock starts after the idle sleep: were the sleep counted, every wake-up would take
        // at least 2 ms, and the median is far below that on any machine these tests run on.
        Assert.True(report.P50Us < idle.TotalMicroseconds, report.ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ACpuThatCannotBeUsedIsRefusedByName(bool waker)
    {
        var good = CpuAffinity.Allowed()[0];
        var bad = CpuAffinity.MaxCpus - 1;
        var e = Assert.Throws<InvalidOperationException>(() => waker ? WakeMeter.Measure(bad, good, 10, TimeSpan.FromMicroseconds(10)) : WakeMeter.Measure(good, bad, 10, TimeSpan.FromMicroseconds(10)));
        Assert.Contains($"cpu {bad} is not available", e.Message, StringComparison.Ordinal);
    }
}
