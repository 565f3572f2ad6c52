using Appliance.Core.Buffers;

namespace Appliance.Core.Brpc;

/// <summary>
/// Writes the one reply packet to one baidu_std request into the connection's output: header,
/// response meta with the request's correlation id, then the payload or an error. The payload's
/// size is known before its bytes (protobuf prefixes lengths), so a reply is written once, in place.
/// </summary>
internal sealed class BaiduStdReply(OutputBuffer output)
{
    private int _reserved = -1;

    public long CorrelationId { get; set; }

    /// <summary>True once this request has been answered.</summary>
    public bool Written { get; private set; }

    /// <summary>Answers with an error: <c>response {error_code, error_text}</c> and no payload.</summary>
    public void Error(int code, string text)
    {
        _reserved = -1;
        var meta = RpcMeta.ResponseSize(CorrelationId, code, text);
        var span = output.GetSpan(BaiduStdHeader.Size + meta);
        new BaiduStdHeader(meta, meta).Write(span);
        RpcMeta.WriteResponse(span[BaiduStdHeader.Size..], CorrelationId, code, text);
        output.Advance(BaiduStdHeader.Size + meta);
        Written = true;
    }

    /// <summary>Reserves a successful reply with a payload of exactly <paramref name="payloadSize"/>
    /// bytes and returns where to write it; <see cref="Commit"/> makes it part of the output
    /// (until then an <see cref="Error"/> may replace it).</summary>
    public Span<byte> BeginPayload(int payloadSize)
    {
        var meta = RpcMeta.ResponseSize(CorrelationId, 0, null);
        var total = BaiduStdHeader.Size + meta + payloadSize;
        var span = output.GetSpan(total)[..total];
        new BaiduStdHeader(meta + payloadSize, meta).Write(span);
        RpcMeta.WriteResponse(span[BaiduStdHeader.Size..], CorrelationId, 0, null);
        _reserved = total;
        return span[(total - payloadSize)..];
    }

    public void Commit()
    {
        if (_reserved < 0)
        {
            throw new InvalidOperationException("no payload reserved");
        }

        output.Advance(_reserved);
        _reserved = -1;
        Written = true;
    }

    /// <summary>Ready for the next request on the connection.</summary>
    internal void Reset(long correlationId)
    {
        CorrelationId = correlationId;
        Written = false;
        _reserved = -1;
    }
}
