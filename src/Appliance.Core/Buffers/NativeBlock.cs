using System.Buffers;
using System.Runtime.InteropServices;

namespace Appliance.Core.Buffers;

/// <summary>
/// A block of native memory as <see cref="Memory{T}"/>, freed the moment it is disposed. Used for
/// buffers too large for the pool (a request of tens of MiB): garbage-collected arrays of that
/// size stayed resident long after the request (ten 60 MiB frames kept ~1 GB), native memory of
/// that size is returned to the system by free().
/// </summary>
internal sealed unsafe class NativeBlock : MemoryManager<byte>
{
    private byte* _pointer;
    private readonly int _length;

    public NativeBlock(int length)
    {
        _length = length;
        _pointer = (byte*)NativeMemory.Alloc((nuint)length);
    }

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
            NativeMemory.Free(_pointer);
            _pointer = null;
        }
    }
}
