using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>The few libc calls the store needs that .NET's MemoryMappedFile does not expose
/// (MAP_POPULATE, madvise). Linux x64 values.</summary>
internal static partial class LibC
{
    public const int ProtRead = 0x1;
    public const int MapShared = 0x01;
    public const int MapPopulate = 0x8000;
    public const int ProtWrite = 0x2;
    public const int MapPrivate = 0x02;
    public const int MapAnonymous = 0x20;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int mprotect(nint addr, nuint length, int prot);
    public const int MadvRandom = 1;
    public const int MadvSequential = 2;
    public const int MadvWillNeed = 3;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    /// <summary>Sleeps with the kernel's high-resolution timers (tens of µs), where
    /// Thread.Sleep rounds to milliseconds.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int usleep(uint microseconds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    public const int AtFdCwd = -100;
    public const uint StatxBasicStats = 0x7ff;

    /// <summary>statx(2) into a 256-byte <c>struct statx</c> (the kernel's fixed layout).</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    public const int ORdOnly = 0;
    public const int ODirectory = 0x10000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    public const int OWrOnly = 0x1;
    public const int OCreat = 0x40;
    public const int OExcl = 0x80;
    public const int ODirect = 0x4000;
    public const int OCloExec = 0x80000;
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getrusage(int who, byte* usage);

    /// <summary>Pins (or reads) the CPUs a thread may run on; pid 0 = the calling thread. The mask
    /// is one bit per CPU, CPU 0 in bit 0 of byte 0.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sched_setaffinity(int pid, nuint size, byte* mask);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sched_getaffinity(int pid, nuint size, byte* mask);

    /// <summary>A kernel counter one thread blocks on (read) and another bumps (write): a wake-up
    /// through the kernel's wait queues, as a socket's is, with no spinning in user space.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static unsafe partial nint PRead(int fd, void* buffer, nuint count, long offset);

    public const int FadvDontNeed = 4;

    /// <summary>Returns the error number (not -1 and errno), as POSIX specifies.</summary>
    [LibraryImport("libc", SetLastError = false)]
    public static partial int posix_fadvise(int fd, long offset, long length, int advice);

    /// <summary>A raw system call (io_uring has no libc wrapper). Every argument in a register; the
    /// kernel's convention (-1 and errno) through glibc.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);
}
