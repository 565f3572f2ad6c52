using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>
/// The systemd watchdog (<c>WatchdogSec=</c> in the unit; systemd passes <c>$WATCHDOG_USEC</c>):
/// <c>WATCHDOG=1</c> is sent at half that interval while every role loop's
/// <see cref="Heartbeat"/> is fresh. A wedged loop (or a process whose timers no longer run)
/// stops the pings, and systemd restarts the service (<c>Restart=on-failure</c>). The stalled loop
/// is named in the log once per stall. Without <c>$WATCHDOG_USEC</c> nothing runs.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    private readonly IReadOnlyList<Heartbeat> _loops;
    private readonly Action<string> _notify;
    private readonly ILogger _logger;
    private readonly Timer? _timer;
    private readonly HashSet<string> _reported = [];

    public Watchdog(IReadOnlyList<Heartbeat> loops, TimeSpan interval, Action<string> notify, ILogger logger, bool start = true)
    {
        _loops = loops;
        _notify = notify;
        _logger = logger;
        Interval = interval;
        if (start)
        {
            _timer = new Timer(_ => Tick(Stopwatch.GetTimestamp()), null, TimeSpan.Zero, interval / 2);
        }
    }

    public TimeSpan Interval { get; }

    /// <summary>The watchdog systemd asked for ($WATCHDOG_USEC, for this process when
    /// $WATCHDOG_PID is set), or null.</summary>
    public static Watchdog? FromEnvironment(IReadOnlyList<Heartbeat> loops, ILogger logger)
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) || usec <= 0)
        {
            return null;
        }

        if (Environment.GetEnvironmentVariable("WATCHDOG_PID") is { Length: > 0 } pid && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null; // meant for another process
        }

        return new Watchdog(loops, TimeSpan.FromTicks(usec * 10), SystemdNotifier.Notify, logger);
    }

    /// <summary>One check: pings when every loop is fresh; returns whether it pinged.</summary>
    public bool Tick(long now)
    {
        var stalled = _loops.Where(l => l.Since(now) > l.AllowedStall).ToList();
        lock (_reported)
        {
            foreach (var loop in stalled.Where(l => _reported.Add(l.Name)))
            {
                HostLog.LoopStalled(_logger, loop.Name, loop.Since(now).TotalSeconds);
            }

            _reported.RemoveWhere(name => stalled.All(l => l.Name != name));
        }

        if (stalled.Count > 0)
        {
            return false;
        }

        _notify("WATCHDOG=1");
        return true;
    }

    public void Dispose() => _timer?.Dispose();
}
