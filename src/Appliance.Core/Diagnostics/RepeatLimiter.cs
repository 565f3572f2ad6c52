namespace Appliance.Core.Diagnostics;

/// <summary>
/// Lets a message that repeats per request reach the log at most once per interval, and says how
/// many identical ones were held back meanwhile: a request loop failing the same way cannot flood
/// the log, and the count still shows how often it happened.
/// </summary>
internal sealed class RepeatLimiter(TimeSpan interval)
{
    private readonly object _lock = new();
    private string? _last;
    private long _lastLogged;
    private long _held;

    /// <summary>True when <paramref name="message"/> should be logged now; <paramref name="heldBack"/>
    /// is the number of identical messages not logged since the last one that was.</summary>
    public bool ShouldLog(string message, out long heldBack)
    {
        lock (_lock)
        {
            var now = Environment.TickCount64;
            if (message == _last && now - _lastLogged < (long)interval.TotalMilliseconds)
            {
                _held++;
                heldBack = 0;
                return false;
            }

            heldBack = message == _last ? _held : 0;
            (_last, _lastLogged, _held) = (message, now, 0);
            return true;
        }
    }
}
