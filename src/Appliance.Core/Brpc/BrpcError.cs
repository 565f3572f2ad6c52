namespace Appliance.Core.Brpc;

/// <summary>
/// The error codes a baidu_std reply's <c>RpcResponseMeta.error_code</c> carries, brpc's numbers
/// (brpc/errno.proto), so a brpc client reacts as it does to brpc's own servers: its default retry
/// policy sends <see cref="LogOff"/> and <see cref="Limit"/> to another replica; the others fail
/// the call.
/// </summary>
internal static class BrpcError
{
    /// <summary>ENOSERVICE: no such service on this port.</summary>
    public const int NoService = 1001;

    /// <summary>ENOMETHOD: the service has no such method.</summary>
    public const int NoMethod = 1002;

    /// <summary>EREQUEST: the request does not parse, or asks for what is not supported
    /// (compression, attachments).</summary>
    public const int Request = 1003;

    /// <summary>EINTERNAL: the server failed answering a valid request.</summary>
    public const int Internal = 2001;

    /// <summary>ELOGOFF: this server cannot answer now (no version live yet, or stopping); another
    /// replica may.</summary>
    public const int LogOff = 2003;

    /// <summary>ELIMIT: over one of the server's limits (keys per request).</summary>
    public const int Limit = 2004;
}
