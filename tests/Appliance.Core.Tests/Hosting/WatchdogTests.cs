using System.Diagnostics;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Appliance.Core.Tests.Hosting;

/// <summary>The watchdog pings while every loop beats, and stops when one stalls.</summary>
public sealed class WatchdogTests
{
    [Fact]
    public void PingsWhileEveryLoopBeatsAndStopsWhenOneStalls()
    {
        var sent = new List<string>();
        var fast = new Heartbeat("data port", TimeSpan.FromSeconds(15));
        var slow = new Heartbeat("engine watcher", TimeSpan.FromSeconds(120));
        using var watchdog = new Watchdog([fast, slow], TimeSpan.FromSeconds(30), sent.Add, NullLogger.Instance, start: false);
        Assert.True(watchdog.Tick(Stopwatch.GetTimestamp()));
        Assert.Equal(["WATCHDOG=1"], sent);

        var in20Seconds = Stopwatch.GetTimestamp() + (20 * Stopwatch.Frequency);
        Assert.False(watchdog.Tick(in20Seconds)); // the data port has not beaten for 20 s > 15 s
        Assert.Single(sent);

        fast.Beat();
        Assert.True(watchdog.Tick(Stopwatch.GetTimestamp()));
        Assert.Equal(2, sent.Count);
    }
}
