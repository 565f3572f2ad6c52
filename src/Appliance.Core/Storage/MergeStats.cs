namespace Appliance.Core.Storage;

/// <summary>What the merges of one shard's patch layers did (for /status and /metrics).</summary>
internal sealed class MergeStats
{
    private long _succeeded;
    private long _failed;
    private long _discarded;
    private long _bytes;
    private long _layers;
    private long _folds;
    private readonly Lock _lock = new();
    private double _seconds;
    private double _lastSeconds;
    private string? _lastError;

    public long Count => Interlocked.Read(ref _succeeded);

    public long Failures => Interlocked.Read(ref _failed);

    /// <summary>Merges that folded the base in too (one layer again).</summary>
    public long Folds => Interlocked.Read(ref _folds);

    /// <summary>Merges done for a view that was no longer live when they finished.</summary>
    public long Discards => Interlocked.Read(ref _discarded);

    /// <summary>Bytes of the layers read by all merges.</summary>
    public long BytesMerged => Interlocked.Read(ref _bytes);

    /// <summary>Patch layers folded by all merges.</summary>
    public long LayersMerged => Interlocked.Read(ref _layers);

    public double TotalSeconds => Volatile.Read(ref _seconds);

    public double LastSeconds => Volatile.Read(ref _lastSeconds);

    /// <summary>How long merges took (merges and folds alike; a fold copies the base, so its
    /// duration grows with the base, a merge's with the patches).</summary>
    public Diagnostics.LatencyHistogram Durations { get; } = new(Diagnostics.LatencyHistogram.LongBounds);

    public string? LastError => Volatile.Read(ref _lastError);

    internal void Succeeded(TimeSpan took, long bytes, int layers, bool folded)
    {
        Interlocked.Increment(ref _succeeded);
        Interlocked.Add(ref _folds, folded ? 1 : 0);
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Add(ref _layers, layers);
        Volatile.Write(ref _lastSeconds, took.TotalSeconds);
        Durations.Observe(took);
        lock (_lock)
        {
            _seconds += took.TotalSeconds;
        }

        Volatile.Write(ref _lastError, null);
    }

    internal void Failed(string error)
    {
        Interlocked.Increment(ref _failed);
        Volatile.Write(ref _lastError, error);
    }

    internal void Discarded() => Interlocked.Increment(ref _discarded);
}
