using System.Collections.Concurrent;

namespace Appliance.Core.Resp;

/// <summary>Commands a RESP port answered, by name (the names it knows, else "other": the label
/// stays small whatever clients send), and the error replies it gave.</summary>
internal sealed class RespStats
{
    private readonly ConcurrentDictionary<string, long> _commands = new(StringComparer.Ordinal);
    private long _errors;
    private long _keys;
    private long _authFailures;
    private readonly Diagnostics.RepeatLimiter _authLog = new(TimeSpan.FromSeconds(10));

    /// <summary>Where failed AUTH attempts are logged (at most one line per peer and 10 s).</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }

    /// <summary>AUTH (or HELLO … AUTH) attempts with a wrong secret.</summary>
    public long AuthFailures => Interlocked.Read(ref _authFailures);

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Keys read by GET, MGET, HGET, HMGET and EXISTS.</summary>
    public long Keys => Interlocked.Read(ref _keys);

    public IEnumerable<KeyValuePair<string, long>> Commands => _commands.OrderBy(c => c.Key, StringComparer.Ordinal);

    public void Command(string name) => _commands.AddOrUpdate(name, 1, (_, n) => n + 1);

    public void Error() => Interlocked.Increment(ref _errors);

    public void Read(int keys) => Interlocked.Add(ref _keys, keys);

    public void AuthFailed(string peer, int onConnection)
    {
        Interlocked.Increment(ref _authFailures);
        if (Logger is not null && _authLog.ShouldLog(peer, out var heldBack))
        {
            Diagnostics.ServingLog.RespAuthFailed(Logger, peer, onConnection, heldBack);
        }
    }
}
