using Appliance.Core.Diagnostics;

namespace Appliance.Core.Tests.Diagnostics;

/// <summary>Progress is a periodic line where it cannot be redrawn, a line redrawn
/// in place under a terminal, stops at Dispose, and never takes the work down.</summary>
public sealed class ProgressMeterTests
{
    [Fact]
    public void WithoutATerminalTheLineIsEmittedPeriodicallyAndStopsAtDispose()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var done = 0;
        var meter = ProgressMeter.For(() => $"done {Volatile.Read(ref done)}", lines.Enqueue, null, TimeSpan.FromMilliseconds(20));
        for (var i = 0; i < 20 && lines.Count < 3; i++)
        {
            Interlocked.Increment(ref done);
            Thread.Sleep(50);
        }

        meter.Dispose();
        var count = lines.Count;
        Assert.True(count >= 3, $"{count} line(s)");
        Assert.All(lines, l => Assert.StartsWith("done ", l, StringComparison.Ordinal));
        Thread.Sleep(100);
        Assert.Equal(count, lines.Count);
    }

    [Fact]
    public void UnderATerminalTheLineIsRedrawnInPlaceAndClearedForOtherOutput()
    {
        using var terminal = new StringWriter();
        var calls = 0;
        var meter = ProgressMeter.For(() => Interlocked.Increment(ref calls) > 0 ? "working" : string.Empty, null, terminal, TimeSpan.FromMilliseconds(10));
        SpinWait.SpinUntil(() => Volatile.Read(ref calls) >= 3, TimeSpan.FromSeconds(5)); // the first draws are written
        meter.WriteLine("phase 1 done");
        meter.Dispose();
        var text = terminal.ToString();
        Assert.StartsWith("\rworking\u001b[K", text, StringComparison.Ordinal);
        Assert.Contains("\r\u001b[Kphase 1 done" + Environment.NewLine, text, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", text.Replace(Environment.NewLine, string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void ADescriptionThatThrowsSkipsItsTickAndTheProcessGoesOn()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var calls = 0;
        using var meter = ProgressMeter.For(() => Interlocked.Increment(ref calls) % 2 == 1 ? throw new InvalidOperationException("mid-update") : "ok", lines.Enqueue, null, TimeSpan.FromMilliseconds(10));
        SpinWait.SpinUntil(() => lines.Count >= 2, TimeSpan.FromSeconds(5));
        Assert.True(lines.Count >= 2);
    }

    [Theory]
    [InlineData(12, "12")]
    [InlineData(12_345, "12.3 k")]
    [InlineData(4_100_000, "4.10 M")]
    [InlineData(2_500_000_000, "2.50 G")]
    public void CountsReadAtAGlance(double value, string text) => Assert.Equal(text, ProgressMeter.Count(value));

    [Theory]
    [InlineData(0, 100, 10, "")]          // nothing done: unknown
    [InlineData(100, 100, 10, "")]        // finished
    [InlineData(25, 100, 10, "ETA 0m30s")]
    [InlineData(1, 1000, 10, "ETA 2h46m")]
    public void EtaFromTheFractionDone(double done, double total, double seconds, string text) =>
        Assert.Equal(text, ProgressMeter.Eta(done, total, TimeSpan.FromSeconds(seconds)));
}
