using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>
/// A zeroed array of <typeparamref name="T"/> in anonymous memory aligned to 2 MiB and advised
/// MADV_HUGEPAGE, for tables that are read and written at random and are far larger than what the
/// TLB covers with 4 KiB pages (the builder's index: 64 bytes per bucket, hundreds of MB). With
/// transparent huge pages in "madvise" mode (the Debian default) a GC array never gets huge pages;
/// this one does when the kernel has them, and is an ordinary anonymous mapping otherwise.
/// </summary>
internal sealed unsafe class HugePageArray<T> : IDisposable
    where T : unmanaged
{
    private const long HugePage = 2L << 20;
    private const int MadvHugePage = 14;

    private nint _mapping;
    private readonly nuint _mappedBytes;

    public HugePageArray(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        var bytes = Math.Max(1, length * sizeof(T));
        _mappedBytes = (nuint)(bytes + HugePage); // room to start on a 2 MiB boundary
        _mapping = LibC.mmap(0, _mappedBytes, LibC.ProtRead | LibC.ProtWrite, LibC.MapPrivate | LibC.MapAnonymous, -1, 0);
        if (_mapping == LibC.MapFailed)
        {
            _mapping = 0;
            throw new InsufficientMemoryException($"mmap of {bytes} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        }

        var aligned = (_mapping + (nint)(HugePage - 1)) & ~(nint)(HugePage - 1);
        Pointer = (T*)aligned;
        _ = LibC.madvise(aligned, (nuint)((bytes + HugePage - 1) / HugePage * HugePage), MadvHugePage); // advice only
    }

    public T* Pointer { get; }

    public long Length { get; }

    /// <summary>Elements [start, start + count) as a span (count ≤ int.MaxValue).</summary>
    public Span<T> Slice(long start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, Length);
        return new Span<T>(Pointer + start, count);
    }

    public void Dispose()
    {
        if (_mapping != 0)
        {
            _ = LibC.munmap(_mapping, _mappedBytes);
            _mapping = 0;
        }
    }
}
