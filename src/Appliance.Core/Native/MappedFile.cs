using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Appliance.Core.Native;

/// <summary>
/// A whole file mapped read-only (<c>mmap(PROT_READ, MAP_SHARED)</c>). Unsafe code stays here and in
/// <see cref="Storage.MappedShard"/>: callers get a base pointer and spans.
/// <list type="bullet">
/// <item><c>populate</c> = MAP_POPULATE + MADV_WILLNEED: every page is read in and mapped before the
/// call returns, so the first lookups do not fault (the original's <c>--in_mem true</c>).</item>
/// <item>otherwise MADV_RANDOM: lookups touch single records, so kernel read-ahead would only
/// evict useful pages (tables larger than RAM, <c>--in_mem false</c>).</item>
/// <item><see cref="Copy"/>: the file is read into anonymous memory of the process (then made
/// read-only), so nothing done to the file afterwards — truncated, rewritten — can reach the
/// server: a mapped file that shrinks under a server kills it with SIGBUS at the next lookup
/// (<c>--in_mem true</c>).</item>
/// </list>
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private nint _address;

    private MappedFile(string path, nint address, long length)
    {
        Path = path;
        _address = address;
        Length = length;
    }

    public string Path { get; }

    public long Length { get; }

    public byte* Pointer => (byte*)_address;

    public static MappedFile Open(string path, bool populate)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var length = RandomAccess.GetLength(handle);
        if (length == 0)
        {
            throw new IOException($"{path}: file is empty");
        }

        var flags = LibC.MapShared | (populate ? LibC.MapPopulate : 0);
        var fd = (int)handle.DangerousGetHandle();
        var address = LibC.mmap(0, (nuint)length, LibC.ProtRead, flags, fd, 0);
        if (address == LibC.MapFailed)
        {
            throw new IOException($"{path}: mmap of {length} bytes failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }

        // Advice is a hint: a failure changes performance, never correctness, so it is not an error.
        _ = LibC.madvise(address, (nuint)length, populate ? LibC.MadvWillNeed : LibC.MadvRandom);
        return new MappedFile(path, address, length);
    }

    /// <summary>The file's bytes in the process's own memory (anonymous, read-only once filled).</summary>
    public static MappedFile Copy(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(handle);
        if (length == 0)
        {
            throw new IOException($"{path}: file is empty");
        }

        var address = LibC.mmap(0, (nuint)length, LibC.ProtRead | LibC.ProtWrite, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapPopulate, -1, 0);
        if (address == LibC.MapFailed)
        {
            throw new IOException($"{path}: allocating {length} bytes failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }

        try
        {
            const int Step = 1 << 30;
            for (long at = 0; at < length;)
            {
                var read = RandomAccess.Read(handle, new Span<byte>((byte*)address + at, (int)Math.Min(Step, length - at)), at);
                if (read == 0)
                {
                    throw new IOException($"{path}: the file ended at byte {at} of {length} while it was read");
                }

                at += read;
            }
        }
        catch
        {
            _ = LibC.munmap(address, (nuint)length);
            throw;
        }

        _ = LibC.mprotect(address, (nuint)length, LibC.ProtRead);
        return new MappedFile(path, address, length);
    }

    /// <summary>XxHash128 of the mapped bytes, lowercase hex (in ≤ 1 GiB steps: spans are int-sized).</summary>
    public string ComputeXxHash128()
    {
        // A lookup mapping is advised MADV_RANDOM (no read-ahead): hashing through it read a cold
        // file 4 KiB per page fault — 204 s for a 6.7 GB shard. Sequential while hashing, random again after.
        var address = Volatile.Read(ref _address);
        _ = LibC.madvise(address, (nuint)Length, LibC.MadvSequential);
        var hash = new XxHash128();
        const long Step = 1L << 30;
        for (long at = 0; at < Length; at += Step)
        {
            var count = (int)Math.Min(Step, Length - at);
            hash.Append(new ReadOnlySpan<byte>(Pointer + at, count));
        }

        _ = LibC.madvise(address, (nuint)Length, LibC.MadvRandom);
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: [{offset}, +{length}) is outside the file ({Length} bytes)");
        }

        return new ReadOnlySpan<byte>(Pointer + offset, length);
    }

    public void Dispose()
    {
        var address = Interlocked.Exchange(ref _address, 0);
        if (address != 0)
        {
            _ = LibC.munmap(address, (nuint)Length);
        }
    }
}
