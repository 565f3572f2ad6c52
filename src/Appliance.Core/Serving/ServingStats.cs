namespace Appliance.Core.Serving;

/// <summary>Counters of one served shard, updated lock-free on the request path.</summary>
internal sealed class ServingStats
{
    private long _requests;
    private long _lookups;
    private long _keys;
    private long _misses;
    private long _errors;
    private long _probesNotReady;

    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    public long Requests => Interlocked.Read(ref _requests);

    public long Lookups => Interlocked.Read(ref _lookups);

    public long Keys => Interlocked.Read(ref _keys);

    public long Misses => Interlocked.Read(ref _misses);

    public long Errors => Interlocked.Read(ref _errors);

    public void Request() => Interlocked.Increment(ref _requests);

    public void Lookup(int keys, int misses)
    {
        Interlocked.Increment(ref _lookups);
        Interlocked.Add(ref _keys, keys);
        Interlocked.Add(ref _misses, misses);
    }

    /// <summary>Version probes (lookups of no key: engines and clients asking what is live)
    /// answered NotReady: a normal start, not an error.</summary>
    public long ProbesNotReady => Interlocked.Read(ref _probesNotReady);

    public void Error() => Interlocked.Increment(ref _errors);

    public void ProbeNotReady() => Interlocked.Increment(ref _probesNotReady);
}
