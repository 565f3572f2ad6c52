using System.Runtime.InteropServices;

namespace Appliance.Core.Storage;

/// <summary>
/// Where a disk-tier lookup puts the values it answers with (a mapped package's values are
/// answered in place; a disk tier's come from the row cache or a read, so they need a home that
/// lives until the reply is written). Native memory, so a <see cref="ValueRef"/> can point into
/// it; bump-allocated in blocks and reset by the next lookup that uses this arena. One per
/// request-serving scratch, never shared between threads. Also holds the lookup's aligned read
/// buffers.
/// </summary>
internal sealed unsafe class ValueArena : IDisposable
{
    private const int FirstBlock = 64 << 10;

    /// <summary>Blocks above this are freed at reset, so one huge request does not pin memory.</summary>
    private const long KeepBytes = 4 << 20;

    private readonly List<(nint Pointer, long Size)> _blocks = [];
    private int _current;
    private long _used;
    private byte* _io;
    private long _ioSize;
    private byte* _side;
    private long _sideSize;

    /// <summary>Forgets every value handed out (their <see cref="ValueRef"/>s must no longer be read).</summary>
    public void Reset()
    {
        long kept = 0;
        for (var i = 0; i < _blocks.Count; i++)
        {
            kept += _blocks[i].Size;
            if (kept > KeepBytes && i > 0)
            {
                for (var j = _blocks.Count - 1; j >= i; j--)
                {
                    NativeMemory.Free((void*)_blocks[j].Pointer);
                    _blocks.RemoveAt(j);
                }

                break;
            }
        }

        _current = 0;
        _used = 0;
    }

    /// <summary><paramref name="length"/> bytes that stay put until <see cref="Reset"/>.</summary>
    public byte* Allocate(int length)
    {
        var size = (length + 7) & ~7L;
        while (true)
        {
            if (_current < _blocks.Count && _used + size <= _blocks[_current].Size)
            {
                var p = (byte*)_blocks[_current].Pointer + _used;
                _used += size;
                return p;
            }

            if (_current + 1 < _blocks.Count)
            {
                _current++;
                _used = 0;
                continue;
            }

            var blockSize = Math.Max(size, _blocks.Count == 0 ? FirstBlock : _blocks[^1].Size * 2);
            _blocks.Add(((nint)NativeMemory.Alloc((nuint)blockSize), blockSize));
            _current = _blocks.Count - 1;
            _used = 0;
        }
    }

    /// <summary>A buffer aligned for direct I/O, at least <paramref name="bytes"/> long, reused
    /// from call to call (its contents do not survive the next call). <paramref name="side"/>: a
    /// second one, for a read made while the first still holds a round being parsed.</summary>
    public byte* ReadBuffer(long bytes, bool side = false)
    {
        ref var buffer = ref side ? ref _side : ref _io;
        ref var size = ref side ? ref _sideSize : ref _ioSize;
        if (size < bytes)
        {
            if (buffer != null)
            {
                NativeMemory.AlignedFree(buffer);
            }

            size = Math.Max(bytes, 64 << 10);
            buffer = (byte*)NativeMemory.AlignedAlloc((nuint)size, DiskValues.Block);
        }

        return buffer;
    }

    public void Dispose()
    {
        foreach (var (pointer, _) in _blocks)
        {
            NativeMemory.Free((void*)pointer);
        }

        _blocks.Clear();
        foreach (var p in (nint[])[(nint)_io, (nint)_side])
        {
            if (p != 0)
            {
                NativeMemory.AlignedFree((void*)p);
            }
        }

        _io = null;
        _side = null;
        _ioSize = _sideSize = 0;
    }
}
