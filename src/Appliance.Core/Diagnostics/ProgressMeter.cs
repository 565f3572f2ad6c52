using System.Globalization;

namespace Appliance.Core.Diagnostics;

/// <summary>
/// Shows how far a long piece of work is (a build, an epoch, a download, a rollout, a load run)
/// while it runs. Under a terminal the line on stderr is redrawn in place four times a second;
/// otherwise (journald, a file, a pipe) the same line is emitted every <c>interval</c> as an
/// ordinary line, so a log shows progress without a flood. <c>describe</c> is called on a thread
/// of the meter's own — not the thread pool, which the work being measured (Parallel.For on every
/// core) may keep busy for seconds — and must only read counters. Dispose stops it (and clears
/// the terminal line).
/// </summary>
internal sealed class ProgressMeter : IDisposable
{
    private readonly Func<string> _describe;
    private readonly Action<string>? _line;
    private readonly TextWriter? _terminal;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread _thread;
    private readonly object _lock = new();
    private bool _drawn;
    private bool _disposed;
    private int _stopped;

    private ProgressMeter(Func<string> describe, Action<string>? line, TextWriter? terminal, TimeSpan interval)
    {
        _describe = describe;
        _line = line;
        _terminal = terminal;
        _thread = new Thread(() =>
        {
            while (!_stop.Wait(interval))
            {
                Tick();
            }
        })
        { IsBackground = true, Name = "progress" };
        _thread.Start();
    }

    /// <summary>How often progress is logged where it cannot be redrawn: <c>CUBE_PROGRESS_SECONDS</c>
    /// (0.05-3600, a decimal), 10 s by default.</summary>
    public static TimeSpan LogInterval { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("CUBE_PROGRESS_SECONDS"), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var s) && s is >= 0.05 and <= 3600
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromSeconds(10);

    /// <summary>Progress of a command run by a person or a script: redrawn on stderr when it is a
    /// terminal, a plain stderr line every <see cref="LogInterval"/> otherwise.</summary>
    public static ProgressMeter ForConsole(Func<string> describe) =>
        Console.IsErrorRedirected
            ? new ProgressMeter(describe, Console.Error.WriteLine, null, LogInterval)
            : new ProgressMeter(describe, null, Console.Error, TimeSpan.FromMilliseconds(250));

    /// <summary>Progress inside a service: one log line every <paramref name="interval"/>.</summary>
    public static ProgressMeter ForLog(Func<string> describe, Action<string> log, TimeSpan interval) =>
        new(describe, log, null, interval);

    /// <summary>For tests: a line to <paramref name="line"/> every <paramref name="interval"/>, or a
    /// redrawn line on <paramref name="terminal"/>.</summary>
    internal static ProgressMeter For(Func<string> describe, Action<string>? line, TextWriter? terminal, TimeSpan interval) =>
        new(describe, line, terminal, interval);

    /// <summary>Writes a message of the work's own (a phase finished, a warning) without tearing
    /// the progress line: the line is cleared first and redrawn on the next tick.</summary>
    public void WriteLine(string message)
    {
        lock (_lock)
        {
            Clear();
            if (_terminal is not null)
            {
                _terminal.WriteLine(message);
            }
            else
            {
                _line!(message);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        _stop.Set();
        _thread.Join();
        _stop.Dispose();
        lock (_lock)
        {
            _disposed = true;
            Clear();
        }
    }

    /// <summary>"1.2 M", "830 k", "12": counts and rates a person reads at a glance.</summary>
    public static string Count(double value) => value switch
    {
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e9:0.00} G"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e6:0.00} M"),
        >= 1e4 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e3:0.0} k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value:0}"),
    };

    /// <summary>Bytes as "512 B", "3.4 MiB", "1.20 GiB".</summary>
    public static string Bytes(double bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1L << 30):0.00} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1L << 10):0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B"),
    };

    /// <summary>"ETA 1m05s" from the fraction done after <paramref name="elapsed"/>; empty when unknown.</summary>
    public static string Eta(double done, double total, TimeSpan elapsed)
    {
        if (done <= 0 || total <= done)
        {
            return string.Empty;
        }

        var left = TimeSpan.FromSeconds(elapsed.TotalSeconds * (total - done) / done);
        return left.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"ETA {(int)left.TotalHours}h{left.Minutes:00}m")
            : string.Create(CultureInfo.InvariantCulture, $"ETA {left.Minutes}m{left.Seconds:00}s");
    }

    private void Tick()
    {
        string text;
        try
        {
            text = _describe();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An exception on this thread would end the process: whatever the description hit (a
            // counter read mid-update), skip this tick and keep the work going.
            return;
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (_terminal is not null)
            {
                _terminal.Write($"\r{text}\u001b[K");
                _terminal.Flush();
                _drawn = true;
            }
            else
            {
                _line!(text);
            }
        }
    }

    private void Clear()
    {
        if (_drawn && _terminal is not null)
        {
            _terminal.Write("\r\u001b[K");
            _terminal.Flush();
            _drawn = false;
        }
    }
}
