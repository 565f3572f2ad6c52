namespace Appliance.E2E.Tests;

/// <summary><c>cube bench stalls</c> as an operator runs it: one line per CPU and the time all lost
/// at once, then the wake-up latency from the second CPU to the first; CPUs it may not use and malformed lists are refused with exit 2, naming the value.</summary>
public sealed class BenchStallsTests
{
    [Fact]
    public void PrintsWhatEachCpuLost()
    {
        using var dir = new TempDirectory();
        var r = CubeProcess.Run(dir.Path, "bench", "stalls", "--duration", "1", "--cpus", "0-1", "--threshold-us", "200").Ok();
        Assert.Contains("stalls: 2 thread(s) spinning on cpu 0,1 for 1 s; a gap over 200 us", r.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"cpu 0: lost [\d.]+ ms \([\d.]+ %\) in \d+ gaps; over 1 ms \d+, over 5 ms \d+, over 10 ms \d+; longest [\d.]+ ms", r.Stdout);
        Assert.Matches(@"cpu 1: lost [\d.]+ ms", r.Stdout);
        Assert.Matches(@"every cpu at once: [\d.]+ ms \([\d.]+ %\)", r.Stdout);
        Assert.Matches(@"wake-ups cpu 1 -> cpu 0 after 1000 us idle, 2000 times: p50 [\d.]+ us, p99 [\d.]+ us, p99\.9 [\d.]+ us, max [\d.]+ us", r.Stdout);

        var one = CubeProcess.Run(dir.Path, "bench", "stalls", "--duration", "1", "--cpus", "1", "--wakes", "100").Ok();
        Assert.Matches(@"cpu 1: lost", one.Stdout);
        Assert.DoesNotContain("every cpu at once", one.Stdout, StringComparison.Ordinal); // one CPU: nothing to overlap or wake from
        Assert.DoesNotContain("wake-ups", one.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1023", "cpu 1023 is not available to this process")]
    [InlineData("0,x", "'x' is not a CPU number")]
    [InlineData("3-1", "'3-1' is not a CPU number")]
    [InlineData("", "option --cpus")]
    public void BadCpuListsAreRefused(string cpus, string message)
    {
        using var dir = new TempDirectory();
        var r = CubeProcess.Run(dir.Path, "bench", "stalls", "--duration", "1", "--cpus", cpus);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("lost", r.Stdout, StringComparison.Ordinal);
    }
}
