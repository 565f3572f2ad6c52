using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Diagnostics;

/// <summary>
/// Wraps the console logger so that an identical warning or error — same category, level, event and
/// text — reaches the log at most once per interval, whatever code path logs it: a peer retrying
/// a refused command every millisecond costs one line per interval, not a disk. The next one let
/// through after a quiet interval says how many were held back. Information and below pass
/// untouched (they are not the ones that repeat per request). One place for every role, so a new
/// log call cannot forget it.
/// </summary>
internal sealed class RepeatLimitingLoggerProvider(ILoggerProvider inner, TimeSpan interval) : ILoggerProvider
{
    /// <summary>Distinct messages remembered; beyond it, ones not seen for an interval are forgotten.</summary>
    private const int MaxTracked = 4096;

    private readonly ConcurrentDictionary<string, Entry> _seen = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) => new Limited(inner.CreateLogger(categoryName), categoryName, this);

    public void Dispose() => inner.Dispose();

    /// <summary>True when this message should be written now; <paramref name="heldBack"/>: how
    /// many identical ones were not written since the last that was.</summary>
    internal bool ShouldLog(string key, out long heldBack)
    {
        var now = Environment.TickCount64;
        var entry = _seen.GetOrAdd(key, _ => new Entry());
        lock (entry)
        {
            if (entry.LastLogged != 0 && now - entry.LastLogged < (long)interval.TotalMilliseconds)
            {
                entry.Held++;
                heldBack = 0;
                return false;
            }

            heldBack = entry.Held;
            (entry.LastLogged, entry.Held) = (now, 0);
        }

        if (_seen.Count > MaxTracked)
        {
            foreach (var (k, e) in _seen)
            {
                if (now - Volatile.Read(ref e.LastLogged) >= (long)interval.TotalMilliseconds)
                {
                    _seen.TryRemove(k, out _);
                }
            }
        }

        return true;
    }

    private sealed class Entry
    {
        public long LastLogged;
        public long Held;
    }

    private sealed class Limited(ILogger inner, string category, RepeatLimitingLoggerProvider limiter) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel < LogLevel.Warning || !inner.IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            var message = formatter(state, exception);
            var key = string.Create(CultureInfo.InvariantCulture, $"{category}\n{logLevel}\n{eventId.Id}\n{message}\n{exception?.GetType().FullName}");
            if (!limiter.ShouldLog(key, out var heldBack))
            {
                return;
            }

            if (heldBack == 0)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
            else
            {
                inner.Log(logLevel, eventId, state, exception, (s, e) => string.Create(CultureInfo.InvariantCulture, $"{formatter(s, e)} [{heldBack} identical message(s) held back]"));
            }
        }
    }
}
