namespace Appliance.Core.Control;

/// <summary>Reads an HTTP body the control plane fetched (a manifest, a donefile, a listing) with a
/// size cap: the answer of a peer is never buffered past what such a document can be.</summary>
internal static class CappedBody
{
    public static async Task<byte[]> ReadAsync(HttpContent content, int cap, string url, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > cap)
        {
            throw new IOException($"GET {url}: {content.Headers.ContentLength} bytes; at most {cap} are read");
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[Math.Min(cap + 1, 1 << 16)];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > cap)
                {
                    throw new IOException($"GET {url}: more than {cap} bytes; at most {cap} are read");
                }

                Array.Resize(ref buffer, Math.Min(cap + 1, buffer.Length * 2));
            }

            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer[..length];
            }

            length += read;
        }
    }
}
