namespace Appliance.Core.Net;

/// <summary>Bounds a data-plane listener enforces on every connection (the largest request is the
/// protocol session's limit: the transport does not know what a request is). Every one is a
/// `cube run` flag; docs/limits.md lists them with what a client sees when it hits one.</summary>
internal sealed record ServerLimits
{
    /// <summary>A reply that makes no progress into the kernel for this long (a client that does
    /// not read) closes that connection. A slow reader that keeps taking bytes is not cut off.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time connections get to finish on shutdown before they are cut.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Connections open at once; more are accepted and closed at once.</summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>Connections open at once from one IP address, so one peer cannot take every slot.</summary>
    public int MaxConnectionsPerPeer { get; init; } = 1024;

    /// <summary>A connection that sends nothing for this long between requests is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>A request must arrive whole within this time of its first byte (slow senders of
    /// half a frame are closed).</summary>
    public TimeSpan FrameTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Receive memory all connections together may hold beyond each one's first 64 KiB
    /// (the room large requests need); a request that would exceed it is refused.</summary>
    public long MaxBufferedBytes { get; init; } = 1L << 30;

    /// <summary>Replies one connection may owe that finish after their request was read (the
    /// engine's predict, the proxy's lookups and what queues behind them); at this many the
    /// connection stops reading until one is sent.</summary>
    public int MaxPendingReplies { get; init; } = 128;

    /// <summary>Bytes of computed replies one connection may hold unsent before it stops reading.</summary>
    public long MaxPendingReplyBytes { get; init; } = 64L << 20;

    /// <summary>--busy-poll-us: after answering, a connection whose client came back within this
    /// long last time polls its socket for this long before it waits through epoll (0 = never).</summary>
    public int BusyPollMicros { get; init; }
}
