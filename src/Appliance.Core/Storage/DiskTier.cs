using Appliance.Core.Diagnostics;

namespace Appliance.Core.Storage;

/// <summary>How a disk-tier shard is set up (<c>cube run --values disk</c>).</summary>
internal sealed record DiskTierOptions
{
    /// <summary>Memory for the row cache; 0 = no cache (every found key is a device read).</summary>
    public long CacheBytes { get; init; } = 256L << 20;

    public ReadEngine Engine { get; init; } = ReadEngine.Uring;

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

    /// <summary>Raw values have no fixed length: the cache holds those up to this many bytes.</summary>
    public const int RawRowBytes = 128;

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

    /// <summary>Called as each package opens: creates the cache for its row length.</summary>
    public void Prepare(int rowBytes)
    {
        if (Options.CacheBytes <= 0)
        {
            return;
        }

        var bytes = rowBytes < 0 ? RawRowBytes : Math.Max(8, rowBytes);
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

    public void Dispose()
    {
        Readers.Dispose();
        _cache?.Dispose();
    }
}
