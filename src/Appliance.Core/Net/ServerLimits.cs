namespace Appliance.Core.Net;

/// <summary>Bounds a data-plane listener enforces on every connection (the largest request is the
/// protocol session's limit: the transport does not know what a request is). Every one is a
/// `cube run` flag; docs/limits.md lists them with what a client sees when it hits one.</summary>
public sealed record ServerLimits
{
    /// <summary>A reply that cannot be handed to the kernel within this time (a client that does
    /// not read) closes that connection.</summary>
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
}
