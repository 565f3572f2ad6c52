using System.Buffers;
using Appliance.Core.Protocol;

namespace Appliance.Core.Client;

/// <summary>A reply frame received by a <see cref="ClientConnection"/>. The payload lives in a
/// pooled buffer: dispose the reply when done with it.</summary>
internal sealed class Reply : IDisposable
{
    private byte[]? _buffer;

    internal Reply(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        Header = header;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(payload.Length, 1));
        payload.CopyTo(_buffer);
    }

    public FrameHeader Header { get; }

    public ReadOnlySpan<byte> Payload => _buffer.AsSpan(0, Header.PayloadLength);

    /// <summary>Throws <see cref="ServerErrorException"/> if this is an error reply.</summary>
    public Reply EnsureSuccess(string server)
    {
        if (Header.IsError)
        {
            var (code, message) = ErrorPayload.Read(Payload);
            throw new ServerErrorException(server, code, message);
        }

        return this;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
