using Appliance.Core.Control;

namespace Appliance.Core.Tests.Control;

public sealed class RetryPolicyTests
{
    [Fact]
    public void WaitsDoubleFromTheInitialDelayUpToTheCap()
    {
        var policy = new RetryPolicy(10);
        Assert.Equal(
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000],
            Enumerable.Range(1, 8).Select(a => (int)policy.DelayAfter(a).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(30), policy.DelayAfter(1000)); // no overflow
    }

    [Fact]
    public void InitialAndCapAreSettings()
    {
        var policy = new RetryPolicy(3) { Initial = TimeSpan.FromMilliseconds(10), Max = TimeSpan.FromMilliseconds(25) };
        Assert.Equal([10, 20, 25], Enumerable.Range(1, 3).Select(a => (int)policy.DelayAfter(a).TotalMilliseconds));
    }
}
