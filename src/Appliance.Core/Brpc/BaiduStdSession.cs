using System.Text;
using Appliance.Core.Buffers;
using Appliance.Core.Net;

namespace Appliance.Core.Brpc;

/// <summary>
/// brpc's baidu_std protocol on one connection, without the socket: packets are found in the bytes
/// the transport offers (<see cref="BaiduStdHeader"/>), each request is checked and handed to the
/// one service served, <c>rec.mcube.DictService.seek</c>, and the replies collect in
/// <see cref="Output"/> in request order, each carrying its request's correlation id (so pipelined
/// requests are matched however the client reads them).
/// <list type="bullet">
/// <item>A request this server cannot serve — another service or method, a compressed payload, an
/// attachment, a DictRequest that does not parse — gets an RpcMeta error naming it and the
/// connection goes on: the packet's size was valid, so the stream is still in step.</item>
/// <item>A header that is not baidu_std, a body over the size limit, or a meta that does not parse
/// (no correlation id to answer) gets an error reply with correlation id 0 and the session closes.</item>
/// </list>
/// </summary>
internal sealed class BaiduStdSession : ISession
{
    public const string ServiceName = "rec.mcube.DictService";
    public const string MethodName = "seek";

    private readonly IDictService _service;
    private readonly int _maxBody;
    private readonly IReplySink _replies;
    private readonly OutputBuffer _output = new(0);
    private readonly BaiduStdReply _reply;

    public BaiduStdSession(IDictService service, int maxBody, IReplySink replies)
    {
        _service = service;
        _maxBody = maxBody;
        _replies = replies;
        _reply = new BaiduStdReply(_output);
    }

    public int BytesNeeded { get; private set; }

    public bool Closing { get; private set; }

    /// <summary>Never: every request is answered before the next is read.</summary>
    public bool Paused => false;

    public Task WhenResumable() => _replies.Window.WaitForRoomAsync();

    public ReadOnlyMemory<byte> Output => _output.Written;

    /// <summary>Requests answered so far (errors included).</summary>
    public long Requests { get; private set; }

    public void ClearOutput()
    {
        _output.Clear();
        _output.Trim(1 << 20);
    }

    public void Idle() => _output.Trim(0);

    public void Refuse(string reason)
    {
        _reply.Reset(0);
        _reply.Error(BrpcError.Limit, reason);
        Closing = true;
    }

    public Task DrainAsync(TimeSpan timeout) => Task.CompletedTask;

    public int Receive(ReadOnlySpan<byte> input)
    {
        BytesNeeded = 0;
        var consumed = 0;
        while (!Closing)
        {
            var available = input[consumed..];
            if (!BaiduStdHeader.TryRead(available, _maxBody, out var header, out var error))
            {
                if (error is not null)
                {
                    _reply.Reset(0);
                    _reply.Error(BrpcError.Request, error);
                    Closing = true;
                }

                break;
            }

            if (available.Length < header.PacketSize)
            {
                BytesNeeded = header.PacketSize;
                break;
            }

            var body = available.Slice(BaiduStdHeader.Size, header.BodySize);
            Dispatch(body[..header.MetaSize], body[header.MetaSize..]);
            consumed += header.PacketSize;
            Requests++;
        }

        return consumed;
    }

    private void Dispatch(ReadOnlySpan<byte> metaBytes, ReadOnlySpan<byte> rest)
    {
        RpcMeta meta;
        try
        {
            meta = RpcMeta.Read(metaBytes);
        }
        catch (ProtoFormatException e)
        {
            _reply.Reset(0);
            _reply.Error(BrpcError.Request, $"RpcMeta: {e.Message}");
            Closing = true;
            return;
        }

        _reply.Reset(meta.CorrelationId);
        if (Refusal(meta, rest.Length) is { } refusal)
        {
            _reply.Error(refusal.Code, refusal.Text);
            return;
        }

        try
        {
            _service.Seek(rest, _reply);
        }
        catch (ProtoFormatException e)
        {
            _reply.Error(BrpcError.Request, $"DictRequest: {e.Message}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _reply.Error(BrpcError.Internal, e.Message);
        }

        if (!_reply.Written)
        {
            _reply.Error(BrpcError.Internal, "the service gave no answer");
        }
    }

    /// <summary>Why this request is not served, or null.</summary>
    private static (int Code, string Text)? Refusal(in RpcMeta meta, int payloadBytes)
    {
        if (!meta.HasRequest)
        {
            return (BrpcError.Request, "the packet's RpcMeta has no request (a client sends request metas)");
        }

        if (meta.CompressType != 0)
        {
            return (BrpcError.Request, $"compress_type {meta.CompressType} is not supported: send the DictRequest uncompressed (compress_type 0)");
        }

        if (meta.AttachmentSize != 0)
        {
            return (BrpcError.Request, $"attachment_size {meta.AttachmentSize}: DictService.seek takes no attachment");
        }

        if (!meta.ServiceName.SequenceEqual(ServiceNameUtf8))
        {
            return (BrpcError.NoService, $"service '{Text(meta.ServiceName)}' is not served here ({ServiceName} is)");
        }

        if (!meta.MethodName.SequenceEqual(MethodNameUtf8))
        {
            return (BrpcError.NoMethod, $"method '{Text(meta.MethodName)}' of {ServiceName} is not served ({MethodName} is)");
        }

        return null;
    }

    private static ReadOnlySpan<byte> ServiceNameUtf8 => "rec.mcube.DictService"u8;

    private static ReadOnlySpan<byte> MethodNameUtf8 => "seek"u8;

    /// <summary>A name from the wire for an error message: at most 64 bytes (brpc's limit on
    /// names), invalid UTF-8 replaced.</summary>
    private static string Text(ReadOnlySpan<byte> name) =>
        Encoding.UTF8.GetString(name[..Math.Min(name.Length, 64)]);
}
