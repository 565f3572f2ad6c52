using System.Text;

namespace Appliance.Core.Brpc;

/// <summary>
/// The parts of <c>brpc.policy.RpcMeta</c> this server and its client use (proto2; every other
/// field is skipped as protobuf allows):
/// <code>
/// RpcMeta         { RpcRequestMeta request = 1; RpcResponseMeta response = 2; int32 compress_type = 3;
///                   int64 correlation_id = 4; int32 attachment_size = 5; … }
/// RpcRequestMeta  { string service_name = 1; string method_name = 2; int64 log_id = 3; … }
/// RpcResponseMeta { int32 error_code = 1; string error_text = 2; }
/// </code>
/// A request meta carries <c>request</c>, a reply's <c>response</c>; the correlation id chosen by
/// the client comes back in the reply that answers it.
/// </summary>
internal readonly ref struct RpcMeta
{
    public ReadOnlySpan<byte> ServiceName { get; init; }

    public ReadOnlySpan<byte> MethodName { get; init; }

    public long LogId { get; init; }

    public long CorrelationId { get; init; }

    public int CompressType { get; init; }

    public int AttachmentSize { get; init; }

    public bool HasRequest { get; init; }

    public bool HasResponse { get; init; }

    public int ErrorCode { get; init; }

    public ReadOnlySpan<byte> ErrorText { get; init; }

    public static RpcMeta Read(ReadOnlySpan<byte> meta)
    {
        var reader = new ProtoReader(meta);
        ReadOnlySpan<byte> service = default, method = default, errorText = default;
        long logId = 0, correlationId = 0;
        int compress = 0, attachment = 0, errorCode = 0;
        bool request = false, response = false;
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 1:
                    request = true;
                    var r = new ProtoReader(reader.ReadBytesField(field, wire));
                    while (r.TryReadTag(out var f, out var w))
                    {
                        switch (f)
                        {
                            case 1: service = r.ReadBytesField(f, w); break;
                            case 2: method = r.ReadBytesField(f, w); break;
                            case 3: logId = (long)r.ReadVarintField(f, w); break;
                            default: r.Skip(w); break;
                        }
                    }

                    break;
                case 2:
                    response = true;
                    var s = new ProtoReader(reader.ReadBytesField(field, wire));
                    while (s.TryReadTag(out var f, out var w))
                    {
                        switch (f)
                        {
                            case 1: errorCode = (int)s.ReadVarintField(f, w); break;
                            case 2: errorText = s.ReadBytesField(f, w); break;
                            default: s.Skip(w); break;
                        }
                    }

                    break;
                case 3: compress = (int)reader.ReadVarintField(field, wire); break;
                case 4: correlationId = (long)reader.ReadVarintField(field, wire); break;
                case 5: attachment = (int)reader.ReadVarintField(field, wire); break;
                default: reader.Skip(wire); break;
            }
        }

        return new RpcMeta
        {
            ServiceName = service,
            MethodName = method,
            LogId = logId,
            CorrelationId = correlationId,
            CompressType = compress,
            AttachmentSize = attachment,
            HasRequest = request,
            HasResponse = response,
            ErrorCode = errorCode,
            ErrorText = errorText,
        };
    }

    /// <summary>Size of a reply's meta: <c>response {error_code, error_text}</c> (both omitted on
    /// success, as brpc does) and the correlation id.</summary>
    public static int ResponseSize(long correlationId, int errorCode, string? errorText)
    {
        var inner = ResponseInnerSize(errorCode, errorText);
        return ProtoWire.LengthDelimitedSize(2, inner) + CorrelationSize(correlationId);
    }

    public static int WriteResponse(Span<byte> destination, long correlationId, int errorCode, string? errorText)
    {
        var n = ProtoWire.WriteTag(destination, 2, ProtoWire.LengthDelimited);
        n += ProtoWire.WriteVarint(destination[n..], (ulong)ResponseInnerSize(errorCode, errorText));
        if (errorCode != 0)
        {
            n += ProtoWire.WriteTag(destination[n..], 1, ProtoWire.Varint);
            n += ProtoWire.WriteVarint(destination[n..], (ulong)(long)errorCode); // int32: negative values sign-extend
        }

        if (!string.IsNullOrEmpty(errorText))
        {
            n += ProtoWire.WriteTag(destination[n..], 2, ProtoWire.LengthDelimited);
            n += ProtoWire.WriteVarint(destination[n..], (ulong)Encoding.UTF8.GetByteCount(errorText));
            n += Encoding.UTF8.GetBytes(errorText, destination[n..]);
        }

        return n + WriteCorrelation(destination[n..], correlationId);
    }

    /// <summary>Size of a request's meta: <c>request {service_name, method_name, log_id}</c> and the correlation id.</summary>
    public static int RequestSize(string service, string method, long logId, long correlationId) =>
        ProtoWire.LengthDelimitedSize(1, RequestInnerSize(service, method, logId)) + CorrelationSize(correlationId);

    public static int WriteRequest(Span<byte> destination, string service, string method, long logId, long correlationId)
    {
        var n = ProtoWire.WriteTag(destination, 1, ProtoWire.LengthDelimited);
        n += ProtoWire.WriteVarint(destination[n..], (ulong)RequestInnerSize(service, method, logId));
        n += WriteString(destination[n..], 1, service);
        n += WriteString(destination[n..], 2, method);
        if (logId != 0)
        {
            n += ProtoWire.WriteTag(destination[n..], 3, ProtoWire.Varint);
            n += ProtoWire.WriteVarint(destination[n..], (ulong)logId);
        }

        return n + WriteCorrelation(destination[n..], correlationId);
    }

    private static int ResponseInnerSize(int errorCode, string? errorText) =>
        (errorCode != 0 ? 1 + ProtoWire.VarintSize((ulong)(long)errorCode) : 0)
        + (string.IsNullOrEmpty(errorText) ? 0 : ProtoWire.LengthDelimitedSize(2, Encoding.UTF8.GetByteCount(errorText)));

    private static int RequestInnerSize(string service, string method, long logId) =>
        ProtoWire.LengthDelimitedSize(1, Encoding.UTF8.GetByteCount(service))
        + ProtoWire.LengthDelimitedSize(2, Encoding.UTF8.GetByteCount(method))
        + (logId != 0 ? 1 + ProtoWire.VarintSize((ulong)logId) : 0);

    private static int CorrelationSize(long correlationId) => 1 + ProtoWire.VarintSize((ulong)correlationId);

    private static int WriteCorrelation(Span<byte> destination, long correlationId)
    {
        // Always written, 0 included: a client matches every reply by it.
        var n = ProtoWire.WriteTag(destination, 4, ProtoWire.Varint);
        return n + ProtoWire.WriteVarint(destination[n..], (ulong)correlationId);
    }

    private static int WriteString(Span<byte> destination, int field, string text)
    {
        var n = ProtoWire.WriteTag(destination, field, ProtoWire.LengthDelimited);
        n += ProtoWire.WriteVarint(destination[n..], (ulong)Encoding.UTF8.GetByteCount(text));
        return n + Encoding.UTF8.GetBytes(text, destination[n..]);
    }
}
