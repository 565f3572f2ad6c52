using System.Buffers;
using System.Runtime.InteropServices;

namespace Appliance.Core.Buffers;

/// <summary>
/// A block of native memory as <see cref="Memory{T}"/>, freed the moment it is disposed. Used for
/// buffers too large for the pool (a request of tens of MiB): garbage-collected arrays of that
/// size stayed resident long after the request (ten 60 MiB frames kept ~1 GB), native memory of
/// that size is returned to the system the moment it is freed (munmap). Nothing frees a block but its owner's
/// <c>Dispose</c> (there is no finalizer): the process-wide counts below make a block lost on some
/// path visible (<c>/metrics</c>, <c>/status</c>, the abuse suite).
/// </summary>
internal sealed unsafe class NativeBlock : MemoryManager<byte>
{
    private static long _live;
    private static long _liveBytes;
    private byte* _pointer;
    private readonly int _length;

    public NativeBlock(int length)
    {
        _length = length;
        // Anonymous pages straight from the kernel, not malloc: glibc raises its mmap threshold
        // after each large free (up to 32 MiB), so blocks of that size then came from its heap
        // and stayed resident after free() — 250 MB kept after twenty abandoned 1M-key replies.
        // munmap returns them at once, whatever their size.
        var pointer = Native.LibC.mmap(0, (nuint)length, Native.LibC.ProtRead | Native.LibC.ProtWrite, Native.LibC.MapPrivate | Native.LibC.MapAnonymous, -1, 0);
        if (pointer == Native.LibC.MapFailed)
        {
            throw new InsufficientMemoryException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        }

        _pointer = (byte*)pointer;
        Interlocked.Increment(ref _live);
        Interlocked.Add(ref _liveBytes, length);
    }

    /// <summary>Blocks allocated and not yet freed (those the cache keeps included).</summary>
    public static long Live => Interlocked.Read(ref _live);

    public static long LiveBytes => Interlocked.Read(ref _liveBytes);

    public int Length => _length;

    public override Span<byte> GetSpan() =>
        _pointer == null ? throw new ObjectDisposedException(nameof(NativeBlock)) : new Span<byte>(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
        // native memory does not move
    }

    protected override void Dispose(bool disposing)
    {
        if (_pointer != null)
        {
            Native.LibC.munmap((nint)_pointer, (nuint)_length);
            _pointer = null;
            Interlocked.Decrement(ref _live);
            Interlocked.Add(ref _liveBytes, -_length);
        }
    }
}
