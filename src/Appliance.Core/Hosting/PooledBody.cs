using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace Appliance.Core.Hosting;

/// <summary>
/// An HTTP request body read whole into a buffer rented from the shared pool, returned on dispose.
/// A predict body arrives chunked (no Content-Length) from most clients; read into a growing
/// MemoryStream it cost 29 KB of fresh memory per 6.5 KB request (4, 8 and 16 KB arrays), half of
/// everything an engine allocated per request. The size cap is Kestrel's (the caller sets
/// MaxRequestBodySize first): past it, reading throws BadHttpRequestException (413).
/// </summary>
internal sealed class PooledBody : IDisposable
{
    private const int FirstRent = 16 * 1024;

    private byte[]? _buffer;

    private PooledBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    /// <summary>The body; valid until <see cref="Dispose"/>.</summary>
    public Memory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(PooledBody))).AsMemory(0, Length);

    public static async Task<PooledBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and var n && n <= maxBytes ? (int)n : FirstRent);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan().CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return new PooledBody(buffer, length);
                }

                length += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
