namespace Appliance.Core.Net;

/// <summary>Bounds a data-plane listener enforces on every connection (the largest request is the
/// protocol session's limit: the transport does not know what a request is).</summary>
public sealed record ServerLimits
{
    /// <summary>A reply that cannot be handed to the kernel within this time (a client that does
    /// not read) closes that connection.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time connections get to finish on shutdown before they are cut.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public int MaxConnections { get; init; } = 10_000;
}
