using Appliance.Core.Diagnostics;

namespace Appliance.Core.Storage;

/// <summary>How a disk-tier shard is set up (<c>cube run --values disk</c>).</summary>
internal sealed record DiskTierOptions
{
    /// <summary>Memory for the row cache; 0 = no cache (every found key is a device read).</summary>
    public long CacheBytes { get; init; } = 256L << 20;

    public ReadEngine Engine { get; init; } = ReadEngine.Uring;

    /// <summary>Requests whose reads may be waited for at once (the thread pool's minimum: a
    /// request waits for its reads on its connection's thread).</summary>
    public int Concurrency { get; init; } = 64;

    /// <summary>Threads of the pread engine (also the fallback where io_uring is refused).</summary>
    public int PreadThreads { get; init; } = 32;
}

/// <summary>
/// One shard's disk tier: the values of every version stay on the device and are read with direct
/// I/O; the index stays in memory (<see cref="ShardLayout"/>: 10.7 bytes per key — a lookup must
/// know where a row is without a read, and whether it exists at all, so a missing key costs no
/// I/O); hot rows live in one <see cref="RowCache"/> shared by every version and connection.
/// A new version (a patch, a merge, a new base) brings only its index: the cache is not doubled,
/// and rows a patch left unchanged are still cached under their base package's tags.
/// </summary>
internal sealed class DiskTier : IDisposable
{
    private long _keys;
    private long _hits;
    private long _reads;
    private long _readBytes;
    private long _failed;
    private long _admitted;

    private readonly Lock _cacheLock = new();
    private RowCache? _cache;

    public DiskTier(DiskTierOptions options)
    {
        Options = options;
        Readers = BlockReaders.Create(options.Engine, options.PreadThreads, out var note);
        Note = note;
    }

    /// <summary>A tier reading through <paramref name="readers"/> (tests inject device faults here).</summary>
    internal DiskTier(DiskTierOptions options, BlockReaders readers)
    {
        Options = options;
        Readers = readers;
    }

    public DiskTierOptions Options { get; }

    public BlockReaders Readers { get; }

    /// <summary>Why the engine asked for is not the one in use, or null.</summary>
    public string? Note { get; private set; }

    /// <summary>The row cache, sized for the rows of the first version opened (a later version
    /// with longer rows is read from the device only, and says so in <see cref="Note"/>).</summary>
    public RowCache? Cache => Volatile.Read(ref _cache);

    /// <summary>Called as each package opens: creates the cache for its row length (a raw table's:
    /// the longest of its first rows).</summary>
    public void Prepare(int rowBytes)
    {
        if (Options.CacheBytes <= 0)
        {
            return;
        }

        var bytes = Math.Max(8, rowBytes);
        lock (_cacheLock)
        {
            if (_cache is null)
            {
                Volatile.Write(ref _cache, new RowCache(Options.CacheBytes, bytes));
            }
            else if (bytes > _cache.RowBytes)
            {
                Note = $"rows of {bytes} bytes are longer than the cache's {_cache.RowBytes} (sized by the first version): they are read from the device every time; restart to resize";
            }
        }
    }

    /// <summary>Time each batch of device reads took (submission to the last completion).</summary>
    public LatencyHistogram ReadLatency { get; } = new();

    /// <summary>Found keys answered (cache or device).</summary>
    public long Keys => Volatile.Read(ref _keys);

    public long CacheHits => Volatile.Read(ref _hits);

    public long DeviceReads => Volatile.Read(ref _reads);

    public long ReadBytes => Volatile.Read(ref _readBytes);

    /// <summary>Keys failed by a read error or a short read.</summary>
    public long FailedKeys => Volatile.Read(ref _failed);

    public long Admitted => Volatile.Read(ref _admitted);

    /// <summary>Counted once per batch, not per key: one atomic add per counter per request.</summary>
    public void Count(int keys, int hits, int reads, long bytes, int failed, int admitted)
    {
        Interlocked.Add(ref _keys, keys);
        Interlocked.Add(ref _hits, hits);
        Interlocked.Add(ref _reads, reads);
        Interlocked.Add(ref _readBytes, bytes);
        if (failed > 0)
        {
            Interlocked.Add(ref _failed, failed);
        }

        Interlocked.Add(ref _admitted, admitted);
    }

    /// <summary>
    /// Keeps the cache warm across a merge or a fold: <paramref name="next"/> serves the same
    /// lineage as <paramref name="old"/> from other packages (a merged layer, a folded base), so
    /// every key has the same row in both. A cached row read from a package <paramref name="next"/>
    /// no longer has is moved to the tag <paramref name="next"/> reads that key under — only if
    /// it is the row <paramref name="old"/> serves for the key (a row of an older layer that a
    /// patch overrode is dropped instead). No device read; the work is one index probe in each
    /// view per cached row of a replaced package. Returns the rows moved.
    /// </summary>
    public long Carry(ShardView old, ShardView next)
    {
        if (Cache is not { } cache)
        {
            return 0;
        }

        var kept = next.Layers.Select(l => l.Disk?.Layer ?? 0).ToHashSet();
        var moved = cache.Retag((tag, key) =>
        {
            if (kept.Contains(tag >> 40))
            {
                return tag; // its package is still read
            }

            return old.DiskTagOf(key) == tag ? next.DiskTagOf(key) : 0;
        });
        Interlocked.Add(ref _carried, moved);
        return moved;
    }

    /// <summary>Cached rows moved to a merged layer or folded base by <see cref="Carry"/>.</summary>
    public long Carried => Volatile.Read(ref _carried);

    private long _carried;

    /// <summary>Rows a prefill put into the cache since start.</summary>
    public long Prefilled => Volatile.Read(ref _prefilled);

    private long _prefilled;
    private int _prefilling;
    private Task _prefill = Task.CompletedTask;
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>
    /// Fills an empty cache from <paramref name="package"/>'s values file, in the background:
    /// large sequential direct reads (1 MiB, a few ms each), each row put into an empty way of its
    /// set, until the cache is full or the reads stop finding room. A restarted server or a new
    /// base then starts with the cache full instead of one device read per key for minutes; the
    /// rows requests ask for replace the prefilled ones (never asked for: frequency 0) as they come.
    /// Takes its own reference on the package for the time it reads.
    /// </summary>
    public void Prefill(MappedShard package)
    {
        if (Cache is not { } cache || package.Disk is not { } file || Interlocked.Exchange(ref _prefilling, 1) != 0)
        {
            return;
        }

        if (!package.TryAddRef())
        {
            Volatile.Write(ref _prefilling, 0);
            return; // already retired
        }

        _prefill = Task.Run(() =>
        {
            try
            {
                PrefillFrom(cache, file, _stopping.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Note = $"prefill of {file.Path} stopped: {e.Message}"; // the cache fills from requests instead
            }
            finally
            {
                package.Release();
                Volatile.Write(ref _prefilling, 0);
            }
        });
    }

    private unsafe void PrefillFrom(RowCache cache, DiskValues file, CancellationToken stopping)
    {
        const int Chunk = 1 << 20;
        var buffer = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(Chunk, DiskValues.Block);
        try
        {
            long next = ShardLayout.HeaderSize; // the next record's offset in the file
            var (tried, filled) = (0L, 0L);
            while (next < file.Length && !stopping.IsCancellationRequested && _prefilled < cache.Rows)
            {
                var start = next & ~(long)(DiskValues.Block - 1); // direct reads start on a block
                var n = Native.LibC.PRead(file.Fd, buffer, Chunk, start);
                if (n <= 0)
                {
                    break;
                }

                // Whole records inside this chunk only; the next chunk starts at the first one cut.
                var at = next - start;
                var parsed = false;
                while (at + ShardLayout.RecordHeaderSize <= n)
                {
                    var key = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(buffer + at, 8));
                    var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(buffer + at + 8, 4));
                    if (length > Chunk / 2 || at + ShardLayout.RecordSize((int)length) > n)
                    {
                        break;
                    }

                    tried++;
                    if (cache.Fill(file.TagOf((ulong)(start + at)), key, new ReadOnlySpan<byte>(buffer + at + ShardLayout.RecordHeaderSize, (int)length)))
                    {
                        filled++;
                        Interlocked.Increment(ref _prefilled);
                    }

                    at += ShardLayout.RecordSize((int)length);
                    parsed = true;
                }

                if (!parsed)
                {
                    break; // a record longer than half a chunk: not a table worth prefilling from
                }

                next = start + at;
                if (tried > cache.Rows && filled * 10 < tried)
                {
                    break; // the sets are full: nine rows in ten find no room
                }
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        // The prefill writes into the cache: it must have stopped before the cache is freed
        // (it checks between two 1 MiB reads, a few ms apart).
        _prefill.Wait(TimeSpan.FromSeconds(10));
        Readers.Dispose();
        _cache?.Dispose();
    }
}
