using System.Net.Sockets;
using System.Text;
using Appliance.Core.Buffers;
using Appliance.Core.Protocol;

namespace Appliance.Core.Brpc;

/// <summary>
/// A client of <c>rec.mcube.DictService.seek</c> over baidu_std on one connection, for
/// <c>cube lookup --protocol brpc</c> and tests: one request at a time, its reply found by
/// correlation id. The original clients (brpc's channel) are what production callers use; this one
/// drives the same servers through the same protocol from the command line.
/// </summary>
internal sealed class BaiduStdClient : IDisposable
{
    /// <summary>Largest reply accepted (the rows of one request).</summary>
    public const int MaxReplyBody = 256 << 20;

    private readonly Socket _socket;
    private readonly OutputBuffer _out = new(4096);
    private readonly ReceiveBuffer _in = new(64 << 10);
    private long _nextCorrelation;

    private BaiduStdClient(Socket socket) => _socket = socket;

    public static async Task<BaiduStdClient> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = (int)timeout.TotalMilliseconds, SendTimeout = (int)timeout.TotalMilliseconds };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(host, port, limit.Token).ConfigureAwait(false);
            return new BaiduStdClient(socket);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new IOException($"{host}:{port}: connect failed: {(e is OperationCanceledException ? $"no connection within {timeout.TotalMilliseconds:F0} ms" : e.Message)}", e);
        }
    }

    /// <summary>Seeks <paramref name="keys"/>: per key its status and bytes, in request order, and
    /// the version when asked. An RpcMeta error throws <see cref="BrpcCallException"/>.</summary>
    public SeekAnswer Seek(ReadOnlySpan<ulong> keys, bool versionRequired = false)
    {
        var correlation = ++_nextCorrelation;
        _out.Clear();
        SeekRequest.Write(_out, correlation, keys, versionRequired);
        var data = _out.WrittenSpan;
        while (!data.IsEmpty)
        {
            data = data[_socket.Send(data)..];
        }

        while (true)
        {
            if (BaiduStdHeader.TryRead(_in.Data, MaxReplyBody, out var header, out var error) && _in.Length >= header.PacketSize)
            {
                var body = _in.Data.Slice(BaiduStdHeader.Size, header.BodySize);
                var meta = RpcMeta.Read(body[..header.MetaSize]);
                if (meta.CorrelationId != correlation)
                {
                    throw new IOException($"reply for correlation id {meta.CorrelationId}, expected {correlation}");
                }

                var answer = meta.ErrorCode != 0
                    ? throw new BrpcCallException(meta.ErrorCode, Encoding.UTF8.GetString(meta.ErrorText))
                    : SeekAnswer.Read(body[header.MetaSize..], keys.Length);
                _in.Consume(header.PacketSize);
                return answer;
            }

            if (error is not null)
            {
                throw new IOException($"invalid reply: {error}");
            }

            _in.Compact(header.PacketSize);
            var n = _socket.Receive(_in.FreeSpan);
            if (n == 0)
            {
                throw new IOException("the server closed the connection");
            }

            _in.Commit(n);
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
    }
}
