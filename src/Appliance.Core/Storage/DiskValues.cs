using System.Runtime.InteropServices;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>
/// A package's values.bin opened for the disk tier: read with direct I/O (O_DIRECT: no readahead,
/// no copy in the page cache beside the row cache), a record at a time. The descriptor keeps the
/// file it opened: a package renamed or deleted under the server is still read whole, and one
/// truncated in place answers short reads, which fail their keys (never a value from elsewhere).
/// <para>A read covers the 4 KiB blocks the record spans: one device read per record (two blocks
/// when it straddles a boundary). Rows of a float codec have a fixed length, known from the
/// manifest; a raw value's length is only known once its header is read, so a raw record longer
/// than its first window takes a second read.</para>
/// </summary>
internal sealed class DiskValues : IDisposable
{
    /// <summary>Direct I/O's alignment for offsets, lengths and buffers (the largest logical
    /// block size in use; 512-byte devices accept it too).</summary>
    public const int Block = 4096;

    /// <summary>The window read for a raw record, whose length is not known in advance.</summary>
    private const int RawGuess = 256;

    private static readonly Dictionary<FileIdentity, ulong> s_layers = [];
    private static ulong s_nextLayer;
    private int _fd;

    private DiskValues(string path, int fd, bool direct, int recordBytes, long length, ulong layer)
    {
        Path = path;
        _fd = fd;
        Direct = direct;
        RecordBytes = recordBytes;
        Length = length;
        Layer = layer;
    }

    public string Path { get; }

    public int Fd => _fd;

    /// <summary>False where the file system refuses O_DIRECT (tmpfs): reads then go through the
    /// page cache, told to expect random access.</summary>
    public bool Direct { get; }

    /// <summary>Bytes of a record (header and value) when every row has the same length, else 0.</summary>
    public int RecordBytes { get; }

    public long Length { get; }

    /// <summary>This package's number in cache tags: the same for the same file (device, inode,
    /// size, times), so a package opened again (a rollback, a lineage reloaded) finds the rows it
    /// cached before; another number for anything else, so a row is never taken for another's.</summary>
    public ulong Layer { get; }

    /// <summary>Opens <paramref name="path"/> for direct reads. <paramref name="rowBytes"/>: a
    /// float codec's encoded row length, or −1 for raw values.</summary>
    public static DiskValues Open(string path, int rowBytes, long length)
    {
        var direct = true;
        var fd = LibC.Open(path, LibC.ORdOnly | LibC.ODirect | LibC.OCloExec);
        if (fd < 0 && Marshal.GetLastPInvokeError() == 22)
        {
            direct = false; // EINVAL: this file system has no direct I/O
            fd = LibC.Open(path, LibC.ORdOnly | LibC.OCloExec);
        }

        if (fd < 0)
        {
            throw new IOException($"{path}: cannot open for direct reads: errno {Marshal.GetLastPInvokeError()}");
        }

        // Pages a checksum pass or a copy left in the page cache would be a second cache of the
        // same rows: let the kernel drop them (direct reads do not need them).
        _ = LibC.posix_fadvise(fd, 0, 0, direct ? LibC.FadvDontNeed : 1 /* RANDOM */);
        return new DiskValues(path, fd, direct, rowBytes < 0 ? 0 : ShardLayout.RecordHeaderSize + rowBytes, length, LayerOf(path));
    }

    private static ulong LayerOf(string path)
    {
        lock (s_layers)
        {
            var identity = FileIdentity.Of(path);
            if (identity is { } id && s_layers.TryGetValue(id, out var known))
            {
                return known;
            }

            // 24 bits in a tag: after 16.7M distinct packages (decades of patches) numbers are
            // reused, and a stale entry would still need its key to match to answer.
            s_nextLayer = (s_nextLayer % 0xFF_FFFF) + 1; // 1 … 2^24 − 1: a tag is never 0
            var layer = s_nextLayer;
            if (identity is { } fresh)
            {
                if (s_layers.Count > 100_000)
                {
                    s_layers.Clear();
                }

                s_layers[fresh] = layer;
            }

            return layer;
        }
    }

    /// <summary>The cache tag of the record at <paramref name="offset"/> (never 0).</summary>
    public ulong TagOf(ulong offset) => (Layer << 40) | (offset / ShardLayout.RecordAlignment);

    /// <summary>The aligned window to read for the record at <paramref name="offset"/>.</summary>
    public (long Start, int Length) WindowOf(ulong offset)
    {
        var need = RecordBytes > 0 ? RecordBytes : ShardLayout.RecordHeaderSize + RawGuess;
        var start = (long)offset & ~(long)(Block - 1);
        var end = ((long)offset + need + Block - 1) & ~(long)(Block - 1);
        return (start, (int)(end - start));
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            LibC.close(fd);
        }
    }
}
