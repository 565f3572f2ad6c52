namespace Appliance.Core.Control;

/// <summary>
/// The one backoff rule of the control plane: at most <see cref="MaxAttempts"/> tries, waiting
/// <see cref="Initial"/> after the first failure and twice as long after each next one, never more
/// than <see cref="Max"/>; no wait after the last try.
/// </summary>
internal sealed record RetryPolicy(int MaxAttempts)
{
    public TimeSpan Initial { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan Max { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        return TimeSpan.FromTicks((long)Math.Min(Initial.Ticks * factor, Max.Ticks));
    }
}
