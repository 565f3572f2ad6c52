namespace Appliance.Core.Control;

/// <summary>Copies a download the control plane fetches (an agent's package file, a transfer's
/// input) to a file, bounded twice: a source silent for <c>idle</c> is an error (the caller may
/// resume), and one sending past <c>limit</c> bytes is cut off.</summary>
internal static class BoundedCopy
{
    /// <summary>Copies until the end of <paramref name="source"/>; <paramref name="written"/> is
    /// what the target already holds (a resumed download), counted against the limit.</summary>
    public static async Task<long> CopyAsync(Stream source, FileStream target, string url, TimeSpan idle, (long Bytes, string Name) limit, long written, Action<int>? progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (true)
        {
            silence.CancelAfter(idle);
            int read;
            try
            {
                read = await source.ReadAsync(buffer, silence.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                target.Flush(flushToDisk: true);
                throw new IOException($"GET {url}: nothing received for {idle.TotalSeconds:F0} s after byte {written}; will resume");
            }

            if (read == 0)
            {
                target.Flush(flushToDisk: true);
                return written;
            }

            if (written + read > limit.Bytes)
            {
                throw new IOException($"GET {url}: the source sent more than {limit.Name} {limit.Bytes} bytes; refused");
            }

            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            written += read;
            progress?.Invoke(read);
        }
    }
}
