namespace Appliance.Core.Net;

/// <summary>
/// The protocol side of one connection, seen from the transport: bytes in, bytes out. The
/// transport never parses what it carries; a session never touches a socket. A session can be
/// driven by a test with plain byte arrays.
/// </summary>
internal interface ISession
{
    /// <summary>Consumes whole requests from the front of <paramref name="input"/> and puts the
    /// replies it can give at once into <see cref="Output"/>. Returns the bytes consumed; what is
    /// left is an incomplete request that the transport offers again with more bytes behind it.</summary>
    int Receive(ReadOnlySpan<byte> input);

    /// <summary>Total size of the incomplete request at the front, once its header told (0 if not known).
    /// Already checked against the session's limit, so the transport may make room for it.</summary>
    int BytesNeeded { get; }

    /// <summary>The stream can no longer be trusted: send <see cref="Output"/>, then close.</summary>
    bool Closing { get; }

    /// <summary>The session stopped consuming (its <see cref="ReplyWindow"/> is full, or it slows
    /// a client down): the transport sends <see cref="Output"/>, waits for
    /// <see cref="WhenResumable"/> and offers the same bytes again before reading more.</summary>
    bool Paused { get; }

    /// <summary>Completes when a paused session may consume again.</summary>
    Task WhenResumable();

    /// <summary>Replies waiting to be sent, in order.</summary>
    ReadOnlyMemory<byte> Output { get; }

    void ClearOutput();

    /// <summary>The connection waits for its next request: give back what the replies used.</summary>
    void Idle();

    /// <summary>The transport cannot take the incomplete request at the front (its memory for
    /// large requests is in use): answer it with an error in <see cref="Output"/> and close.</summary>
    void Refuse(string reason);

    /// <summary>Waits (at most <paramref name="timeout"/>) for replies still being computed, so a
    /// drain answers every request it received.</summary>
    Task DrainAsync(TimeSpan timeout);
}

/// <summary>Where a session sends a reply that finished after its request was consumed (the
/// connection serialises it with the replies of the read loop).</summary>
internal interface IReplySink
{
    /// <summary>Sends, in order with everything else the connection sends. False when the
    /// connection is gone or the client stopped reading; the connection is then closed.</summary>
    ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes);

    /// <summary>The bound on replies this connection owes (see <see cref="ReplyWindow"/>).</summary>
    ReplyWindow Window { get; }

    /// <summary>The client's address, for logs ("?" when unknown).</summary>
    string Peer { get; }
}

/// <summary>Makes the session of each accepted connection.</summary>
internal interface ISessionFactory
{
    ISession Create(IReplySink replies);
}
