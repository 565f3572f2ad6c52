namespace Appliance.Core.Protocol;

/// <summary>Error reply codes (docs/protocol.md). Never renumber.</summary>
internal enum ErrorCode : ushort
{
    /// <summary>The frame could not be parsed (bad magic, version, length or payload). The server closes the connection after it.</summary>
    BadFrame = 1,

    /// <summary>The opcode is not one this server serves.</summary>
    UnknownOpcode = 2,

    /// <summary>The dict named in the request is not served here.</summary>
    UnknownDict = 3,

    /// <summary>The server has no live version yet.</summary>
    NotReady = 4,

    /// <summary>The request is well formed but not acceptable (too many keys, bad sample…).</summary>
    BadRequest = 5,

    // 6 is reserved (an early draft's ShuttingDown, never sent: a draining server answers every
    // request it has received, then closes the connection, which clients already handle).

    /// <summary>Anything else went wrong on the server.</summary>
    Internal = 7,

    /// <summary>The server's memory for large requests is in use (--max-buffered-mb): this one is
    /// refused and the connection closed; a client tries another replica or later.</summary>
    Overloaded = 8,
}
