using Appliance.Core.Diagnostics;

namespace Appliance.Core.Tests.Diagnostics;

public sealed class RepeatLimiterTests
{
    [Fact]
    public void AnIdenticalMessageIsHeldBackWithinTheIntervalAndCounted()
    {
        var limiter = new RepeatLimiter(TimeSpan.FromMilliseconds(200));
        Assert.True(limiter.ShouldLog("a", out var held));
        Assert.Equal(0, held);
        Assert.False(limiter.ShouldLog("a", out _));
        Assert.False(limiter.ShouldLog("a", out _));
        Thread.Sleep(250);
        Assert.True(limiter.ShouldLog("a", out held));
        Assert.Equal(2, held);
    }

    [Fact]
    public void ADifferentMessageIsLoggedAtOnce()
    {
        var limiter = new RepeatLimiter(TimeSpan.FromHours(1));
        Assert.True(limiter.ShouldLog("a", out _));
        Assert.False(limiter.ShouldLog("a", out _));
        Assert.True(limiter.ShouldLog("b", out var held));
        Assert.Equal(0, held);
    }
}
