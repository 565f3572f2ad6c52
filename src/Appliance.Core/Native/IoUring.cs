using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>
/// One io_uring instance (Linux ≥ 5.6) driven by raw system calls: a batch of reads is written
/// into the submission queue and handed to the kernel with one <c>io_uring_enter</c>, which also
/// waits until every one has completed. Not thread-safe: one thread uses a ring at a time
/// (<see cref="Storage.BlockReaders"/> lends them out).
/// <para>Raw system calls rather than liburing: liburing's submission helpers are inline functions
/// in its header (nothing to bind to), and a dependency on a shared library the target machines
/// may not have would break "copy one binary". The ring layout is the kernel's ABI:</para>
/// <code>
/// io_uring_params (120 bytes): u32 sq_entries | u32 cq_entries | u32 flags | u32 sq_thread_cpu
///   | u32 sq_thread_idle | u32 features | u32 wq_fd | u32 resv[3]
///   | sq_off at 40: u32 head, tail, ring_mask, ring_entries, flags, dropped, array, resv1 | u64 user_addr
///   | cq_off at 80: u32 head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1 | u64 user_addr
/// SQE (64 bytes): u8 opcode | u8 flags | u16 ioprio | s32 fd | u64 off | u64 addr | u32 len
///   | u32 rw_flags | u64 user_data at 32 | zero to 64
/// CQE (16 bytes): u64 user_data | s32 res (bytes, or -errno) | u32 flags
/// </code>
/// </summary>
internal sealed unsafe class IoUring : IDisposable
{
    private const long SysIoUringSetup = 425;
    private const long SysIoUringEnter = 426;
    private const uint EnterGetEvents = 1;
    private const byte OpRead = 22;
    private const long OffSqRing = 0;
    private const long OffCqRing = 0x8000000;
    private const long OffSqes = 0x10000000;
    private const int SqeSize = 64;
    private const int CqeSize = 16;
    private const int Eintr = 4;
    private const int Eagain = 11;
    private const int Ebusy = 16;

    private readonly int _fd;
    private readonly nint _sqRing;
    private readonly nuint _sqRingSize;
    private readonly nint _cqRing;
    private readonly nuint _cqRingSize;
    private readonly nint _sqes;
    private readonly nuint _sqesSize;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint* _sqArray;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly byte* _cqes;
    private bool _disposed;

    private IoUring(int fd, byte* p, nint sqRing, nuint sqRingSize, nint cqRing, nuint cqRingSize, nint sqes, nuint sqesSize)
    {
        _fd = fd;
        _sqRing = sqRing;
        _sqRingSize = sqRingSize;
        _cqRing = cqRing;
        _cqRingSize = cqRingSize;
        _sqes = sqes;
        _sqesSize = sqesSize;
        var sq = (byte*)sqRing;
        var cq = (byte*)cqRing;
        _sqTail = (uint*)(sq + U32(p, 44));
        _sqMask = *(uint*)(sq + U32(p, 48));
        _sqArray = (uint*)(sq + U32(p, 64));
        _cqHead = (uint*)(cq + U32(p, 80));
        _cqTail = (uint*)(cq + U32(p, 84));
        _cqMask = *(uint*)(cq + U32(p, 88));
        _cqes = cq + U32(p, 100);
        Entries = U32(p, 0);
    }

    /// <summary>Submission queue entries: the most reads one <see cref="ReadAll"/> call puts in
    /// flight at once (more are sent in rounds).</summary>
    public uint Entries { get; }

    /// <summary>A ring of <paramref name="entries"/> (a power of two), or null with the reason
    /// when the kernel refuses (too old, or io_uring disabled by sysctl or a seccomp filter, as
    /// container runtimes' default profiles do).</summary>
    public static IoUring? TryCreate(uint entries, out string? why)
    {
        var p = stackalloc byte[120];
        new Span<byte>(p, 120).Clear();
        var fd = (int)LibC.Syscall(SysIoUringSetup, entries, (long)p, 0, 0, 0, 0);
        if (fd < 0)
        {
            why = $"io_uring_setup: errno {Marshal.GetLastPInvokeError()}";
            return null;
        }

        var sqEntries = U32(p, 0);
        var cqEntries = U32(p, 4);
        var sqRingSize = (nuint)(U32(p, 64) + (sqEntries * 4));
        var cqRingSize = (nuint)(U32(p, 100) + (cqEntries * CqeSize));
        var sqesSize = (nuint)(sqEntries * SqeSize);
        const int Shared = LibC.MapShared | LibC.MapPopulate;
        var sq = LibC.mmap(0, sqRingSize, LibC.ProtRead | LibC.ProtWrite, Shared, fd, (nint)OffSqRing);
        var cq = LibC.mmap(0, cqRingSize, LibC.ProtRead | LibC.ProtWrite, Shared, fd, (nint)OffCqRing);
        var sqes = LibC.mmap(0, sqesSize, LibC.ProtRead | LibC.ProtWrite, Shared, fd, (nint)OffSqes);
        if (sq == LibC.MapFailed || cq == LibC.MapFailed || sqes == LibC.MapFailed)
        {
            why = $"io_uring mmap: errno {Marshal.GetLastPInvokeError()}";
            Unmap(sq, sqRingSize);
            Unmap(cq, cqRingSize);
            Unmap(sqes, sqesSize);
            LibC.close(fd);
            return null;
        }

        why = null;
        return new IoUring(fd, p, sq, sqRingSize, cq, cqRingSize, sqes, sqesSize);
    }

    /// <summary>
    /// Reads every request and waits for all: <paramref name="results"/>[i] is the byte count read
    /// for <paramref name="requests"/>[i], or −errno. Throws only when the ring itself fails (the
    /// reads' own errors are results, one per read).
    /// </summary>
    public void ReadAll(ReadOnlySpan<BlockRead> requests, Span<int> results)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (var start = 0; start < requests.Length; start += (int)Entries)
        {
            var n = Math.Min((int)Entries, requests.Length - start);
            Submit(requests.Slice(start, n), start);
            Complete(n, results);
        }
    }

    private void Submit(ReadOnlySpan<BlockRead> requests, int firstIndex)
    {
        var tail = *_sqTail; // only this thread writes the tail
        for (var i = 0; i < requests.Length; i++)
        {
            var index = tail & _sqMask;
            var sqe = (byte*)_sqes + (index * SqeSize);
            new Span<byte>(sqe, SqeSize).Clear();
            ref readonly var r = ref requests[i];
            sqe[0] = OpRead;
            *(int*)(sqe + 4) = r.Fd;
            *(long*)(sqe + 8) = r.Offset;
            *(ulong*)(sqe + 16) = (ulong)r.Buffer;
            *(uint*)(sqe + 24) = (uint)r.Length;
            *(ulong*)(sqe + 32) = (ulong)(firstIndex + i);
            _sqArray[index] = index;
            tail++;
        }

        // The kernel reads the entries after it sees the new tail: release order.
        Volatile.Write(ref *_sqTail, tail);
    }

    private void Complete(int submitted, Span<int> results)
    {
        var toSubmit = submitted;
        var done = 0;
        while (done < submitted)
        {
            var r = LibC.Syscall(SysIoUringEnter, _fd, toSubmit, submitted - done, EnterGetEvents, 0, 0);
            if (r < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno is not (Eintr or Eagain or Ebusy))
                {
                    throw new IOException($"io_uring_enter: errno {errno}");
                }
            }
            else
            {
                toSubmit -= (int)Math.Min(r, toSubmit);
            }

            var head = *_cqHead;
            var tail = Volatile.Read(ref *_cqTail);
            while (head != tail)
            {
                var cqe = _cqes + ((head & _cqMask) * CqeSize);
                results[(int)*(ulong*)cqe] = *(int*)(cqe + 8);
                head++;
                done++;
            }

            Volatile.Write(ref *_cqHead, head);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Unmap(_sqRing, _sqRingSize);
        Unmap(_cqRing, _cqRingSize);
        Unmap(_sqes, _sqesSize);
        LibC.close(_fd);
    }

    private static uint U32(byte* p, int offset) => *(uint*)(p + offset);

    private static void Unmap(nint address, nuint size)
    {
        if (address != LibC.MapFailed && address != 0)
        {
            LibC.munmap(address, size);
        }
    }
}

/// <summary>One read of a batch: <see cref="Length"/> bytes at <see cref="Offset"/> of
/// <see cref="Fd"/> into <see cref="Buffer"/> (all aligned to the device's block for O_DIRECT).</summary>
internal readonly unsafe struct BlockRead(int fd, long offset, byte* buffer, int length)
{
    public int Fd { get; } = fd;

    public long Offset { get; } = offset;

    public byte* Buffer { get; } = buffer;

    public int Length { get; } = length;
}
