namespace Appliance.Core.Net;

/// <summary>System-call level counters of a listener: how well requests are batched per read and
/// replies per write (requests ÷ receives is the pipelining a server actually sees).</summary>
internal sealed class TransportStats
{
    private long _receives;
    private long _sends;
    private long _bytesIn;
    private long _bytesOut;
    private long _refusedTotal;
    private long _refusedPeer;
    private long _idleClosed;
    private long _frameTimeouts;
    private long _refusedMemory;
    private long _evictedIdle;
    private long _sendTimeouts;
    private long _readPauses;
    private long _busyPollHits;
    private long _busyPollMisses;

    /// <summary>Busy-polls (--busy-poll-us) that found the next request, without a wait in epoll.</summary>
    public long BusyPollHits => Interlocked.Read(ref _busyPollHits);

    /// <summary>Busy-polls that ran their whole budget and then waited in epoll after all.</summary>
    public long BusyPollMisses => Interlocked.Read(ref _busyPollMisses);

    public void BusyPollHit() => Interlocked.Increment(ref _busyPollHits);

    public void BusyPollMiss() => Interlocked.Increment(ref _busyPollMisses);

    public long Receives => Interlocked.Read(ref _receives);

    public long Sends => Interlocked.Read(ref _sends);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    /// <summary>Connections closed at accept because --max-connections were open.</summary>
    public long RefusedAtLimit => Interlocked.Read(ref _refusedTotal);

    /// <summary>Connections closed at accept because their address had --max-connections-per-peer open.</summary>
    public long RefusedPerPeer => Interlocked.Read(ref _refusedPeer);

    /// <summary>Connections closed after sending nothing for --idle-timeout-seconds.</summary>
    public long IdleClosed => Interlocked.Read(ref _idleClosed);

    /// <summary>Connections closed because a request did not arrive whole within --frame-timeout-seconds.</summary>
    public long FrameTimeouts => Interlocked.Read(ref _frameTimeouts);

    /// <summary>Requests refused because receive memory (--max-buffered-mb) was in use.</summary>
    public long RefusedMemory => Interlocked.Read(ref _refusedMemory);

    /// <summary>Connections closed because a reply made no progress for --send-timeout-ms.</summary>
    public long SendTimeouts => Interlocked.Read(ref _sendTimeouts);

    /// <summary>Times a connection stopped reading because its pending replies filled its window
    /// (--max-pending-replies, --max-pending-reply-mb).</summary>
    public long ReadPauses => Interlocked.Read(ref _readPauses);

    /// <summary>Every refusal and limit-driven close by reason (the label values of the
    /// <c>…_refusals_total</c> metrics).</summary>
    public IEnumerable<(string Reason, long Count)> Refusals =>
    [
        ("max_connections", RefusedAtLimit),
        ("evicted_idle", Interlocked.Read(ref _evictedIdle)),
        ("max_connections_per_peer", RefusedPerPeer),
        ("idle_timeout", IdleClosed),
        ("frame_timeout", FrameTimeouts),
        ("buffer_memory", RefusedMemory),
        ("send_timeout", SendTimeouts),
        ("pending_replies", ReadPauses),
    ];

    internal void EvictIdle() => Interlocked.Increment(ref _evictedIdle);

    internal void RefuseAtLimit() => Interlocked.Increment(ref _refusedTotal);

    internal void RefusePerPeer() => Interlocked.Increment(ref _refusedPeer);

    internal void CloseIdle() => Interlocked.Increment(ref _idleClosed);

    internal void FrameTimedOut() => Interlocked.Increment(ref _frameTimeouts);

    internal void RefuseMemory() => Interlocked.Increment(ref _refusedMemory);

    internal void SendTimedOut() => Interlocked.Increment(ref _sendTimeouts);

    internal void PausedReading() => Interlocked.Increment(ref _readPauses);

    internal void Received(int bytes)
    {
        Interlocked.Increment(ref _receives);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    internal void Sent(int bytes)
    {
        Interlocked.Increment(ref _sends);
        Interlocked.Add(ref _bytesOut, bytes);
    }
}
