using System.Diagnostics;

namespace Appliance.Core.Diagnostics;

/// <summary>One long-running loop's sign of life for the systemd watchdog: the loop calls
/// <see cref="Beat"/> every iteration; it counts as wedged when it has not beaten for
/// <see cref="AllowedStall"/> (its own worst-case iteration, with margin).</summary>
internal sealed class Heartbeat(string name, TimeSpan allowedStall)
{
    private long _last = Stopwatch.GetTimestamp();

    public string Name { get; } = name;

    public TimeSpan AllowedStall { get; } = allowedStall;

    public void Beat() => Volatile.Write(ref _last, Stopwatch.GetTimestamp());

    /// <summary>Time since the last beat, at <paramref name="now"/> (a Stopwatch timestamp).</summary>
    public TimeSpan Since(long now) => Stopwatch.GetElapsedTime(Volatile.Read(ref _last), now);
}
