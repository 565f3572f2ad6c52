namespace Appliance.Core.Storage;

/// <summary>
/// How often each row was asked for lately, approximately: a count-min sketch of 4 rows of 4-bit
/// saturating counters (one byte each here), halved every <see cref="SampleSize"/> additions so
/// old popularity fades (TinyLFU's "reset"). A row cache admits a new row only when the sketch
/// says it is asked for more often than the row it would evict, so a scan of keys asked for once
/// cannot flush the hot ones.
/// <para>Updates are plain byte writes, unsynchronised: two threads counting the same key at once
/// may lose one count, which an estimate can afford; no lock or atomic on the lookup path.</para>
/// </summary>
internal sealed class FrequencySketch
{
    private const int Depth = 4;
    private const byte Max = 15;
    private readonly byte[] _counters;
    private readonly ulong _mask;
    private int _additions;
    private int _resetting;

    /// <param name="capacity">rows the cache holds: the sketch keeps 4 counters per row per hash row</param>
    public FrequencySketch(long capacity)
    {
        var width = 1L << (int)Math.Ceiling(Math.Log2(Math.Max(64, capacity * 4)));
        _counters = new byte[width];
        _mask = (ulong)width - 1;
        SampleSize = (int)Math.Min(int.MaxValue / 2, Math.Max(640, capacity * 10));
    }

    /// <summary>Additions between two halvings: 10 × the cache's rows, as TinyLFU suggests.</summary>
    public int SampleSize { get; }

    public long Bytes => _counters.Length;

    /// <summary>Counts one request for the row whose mixed tag is <paramref name="hash"/>.</summary>
    public void Increment(ulong hash)
    {
        var counters = _counters;
        for (var d = 0; d < Depth; d++)
        {
            ref var c = ref counters[Index(hash, d)];
            if (c < Max)
            {
                c++;
            }
        }

        if (++_additions >= SampleSize)
        {
            Reset();
        }
    }

    /// <summary>Starts loading the row's counters (a lookup prefetches a batch's before it counts them).</summary>
    public unsafe void Prefetch(ulong hash)
    {
        var counters = _counters;
        for (var d = 0; d < Depth; d++)
        {
            LayerTable.Prefetch(System.Runtime.CompilerServices.Unsafe.AsPointer(ref counters[Index(hash, d)]));
        }
    }

    /// <summary>The estimated requests for the row (never under the truth, up to 15).</summary>
    public int Estimate(ulong hash)
    {
        var counters = _counters;
        int min = Max;
        for (var d = 0; d < Depth; d++)
        {
            min = Math.Min(min, counters[Index(hash, d)]);
        }

        return min;
    }

    private int Index(ulong hash, int depth)
    {
        // Four indexes from one 64-bit hash: rotate by a different amount per row, then remix.
        var h = ((hash >> (depth * 16)) | (hash << (64 - (depth * 16)))) * 0x9E3779B97F4A7C15UL;
        return (int)((h >> 32) & _mask);
    }

    private void Reset()
    {
        if (Interlocked.Exchange(ref _resetting, 1) != 0)
        {
            return;
        }

        var counters = _counters;
        for (var i = 0; i < counters.Length; i++)
        {
            counters[i] >>= 1;
        }

        _additions = 0;
        Volatile.Write(ref _resetting, 0);
    }
}
