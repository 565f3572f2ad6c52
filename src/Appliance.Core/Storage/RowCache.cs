using System.Runtime.InteropServices;

namespace Appliance.Core.Storage;

/// <summary>
/// The disk tier's cache of hot rows, by record (not by page: a 4 KiB page holds ~60 rows of
/// which one is hot, so a row cache holds ~60× more hot rows per MB than the page cache).
/// Set-associative: a row's tag picks a set of <see cref="Ways"/> entries, so a lookup reads one
/// set and eviction compares eight candidates (a sampled LFU).
/// <para><b>Admission (TinyLFU):</b> a row read from the device replaces the set's least
/// frequently asked-for entry only if the <see cref="FrequencySketch"/> says the newcomer is asked
/// for more often; a scan of keys asked for once is refused, and the hot rows stay
/// (RowCacheTests.AScanDoesNotFlushTheHotRows).</para>
/// <para><b>Concurrency:</b> no lock on the lookup path. Each set has a sequence number, odd while
/// a writer changes the set (a seqlock): a reader copies the row, then checks the number did not
/// move, else it retries or counts a miss. A writer takes the set by compare-and-swap and gives up
/// rather than wait if another holds it (the row is simply not cached this time).</para>
/// <para><b>Tags:</b> a row is cached under (package, record offset), so a version that stacks a
/// patch on the same base keeps every cached row of the base; the key is stored too and must
/// match, so a tag can never answer another key.</para>
/// </summary>
internal sealed unsafe class RowCache : IDisposable
{
    public const int Ways = 8;
    private const int MetaBytes = 8 + 8 + 4 + 4; // tag, key, length, sequence share
    private readonly ulong[] _tags;
    private readonly ulong[] _keys;
    private readonly int[] _lengths;
    private readonly int[] _sequences;
    private readonly byte* _rows;
    private readonly ulong _sets;
    private readonly FrequencySketch _sketch;
    private bool _disposed;

    /// <param name="bytes">memory for the cache (rows, their tags and the sketch)</param>
    /// <param name="rowBytes">the largest value a cached row holds; longer values are not cached</param>
    public RowCache(long bytes, int rowBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowBytes);
        RowBytes = (rowBytes + 7) & ~7;
        var perRow = RowBytes + MetaBytes + 4; // + the sketch's counters
        var sets = Math.Max(1L, bytes / perRow / Ways);
        Rows = sets * Ways;
        _sets = (ulong)sets;
        _tags = new ulong[Rows];
        _keys = new ulong[Rows];
        _lengths = new int[Rows];
        _sequences = new int[sets];
        _rows = (byte*)NativeMemory.AlignedAlloc((nuint)(Rows * RowBytes), 64);
        _sketch = new FrequencySketch(Rows);
    }

    /// <summary>Admit every row offered and evict in first-in first-out order (no frequencies: a
    /// plain cache, as a page cache behaves under a scan); only to show what the admission policy
    /// is worth (RowCacheTests).</summary>
    internal bool Fifo { get; init; }

    /// <summary>Rows the cache can hold.</summary>
    public long Rows { get; }

    /// <summary>Value bytes per row.</summary>
    public int RowBytes { get; }

    /// <summary>What the cache holds in memory: rows, tags, keys, lengths and the sketch.</summary>
    public long Bytes => (Rows * (RowBytes + 20)) + (_sequences.Length * 4L) + _sketch.Bytes;

    /// <summary>Rows filled (counted on demand, for /status).</summary>
    public long Filled()
    {
        long n = 0;
        foreach (var t in _tags)
        {
            n += t == 0 ? 0 : 1;
        }

        return n;
    }

    /// <summary>Starts loading what <see cref="TryGet"/> of <paramref name="tag"/> will read first
    /// (its set's tags and keys, its frequency counters), so a batch's misses overlap.</summary>
    public void Prefetch(ulong tag)
    {
        var hash = KeyHash.Mix(tag);
        var first = SetOf(hash) * Ways;
        LayerTable.Prefetch(System.Runtime.CompilerServices.Unsafe.AsPointer(ref _tags[first]));
        LayerTable.Prefetch(System.Runtime.CompilerServices.Unsafe.AsPointer(ref _keys[first]));
        _sketch.Prefetch(hash);
    }

    /// <summary>The row cached under <paramref name="tag"/> for <paramref name="key"/>, copied into
    /// <paramref name="destination"/> (at least <see cref="RowBytes"/> long); counts the request
    /// in the sketch either way (unless <paramref name="record"/> is false: <see cref="Record"/> later).</summary>
    public bool TryGet(ulong tag, ulong key, Span<byte> destination, out int length, bool record = true)
    {
        var hash = KeyHash.Mix(tag);
        if (record)
        {
            _sketch.Increment(hash);
        }

        var set = SetOf(hash);
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var before = Volatile.Read(ref _sequences[set]);
            if ((before & 1) != 0)
            {
                Thread.SpinWait(8);
                continue;
            }

            var found = -1;
            for (var way = 0; way < Ways; way++)
            {
                var i = (set * Ways) + way;
                if (_tags[i] == tag && _keys[i] == key)
                {
                    found = i;
                    break;
                }
            }

            if (found < 0)
            {
                length = 0;
                return false;
            }

            length = Math.Min(_lengths[found], RowBytes);
            new ReadOnlySpan<byte>(_rows + ((long)found * RowBytes), length).CopyTo(destination);
            // The copy must be complete before the sequence is read again.
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _sequences[set]) == before)
            {
                return true;
            }
        }

        length = 0;
        return false;
    }

    /// <summary>Counts one request for the row under <paramref name="tag"/> in the frequency sketch.</summary>
    public void Record(ulong tag) => _sketch.Increment(KeyHash.Mix(tag));

    /// <summary>Offers a row just read from the device; true when it was admitted.</summary>
    public bool Offer(ulong tag, ulong key, ReadOnlySpan<byte> value)
    {
        if (value.Length > RowBytes || tag == 0)
        {
            return false;
        }

        var hash = KeyHash.Mix(tag);
        var set = SetOf(hash);
        if (!TryTakeSet(set, out var before))
        {
            return false; // another writer has the set: skip, never wait
        }

        var admitted = false;
        try
        {
            var victim = -1;
            var victimFrequency = int.MaxValue;
            for (var way = 0; way < Ways; way++)
            {
                var i = (set * Ways) + way;
                if (_tags[i] == tag && _keys[i] == key)
                {
                    return false; // already cached by another reader of the same row
                }

                var frequency = _tags[i] == 0 ? -1 : _sketch.Estimate(KeyHash.Mix(_tags[i]));
                if (frequency < victimFrequency)
                {
                    victim = i;
                    victimFrequency = frequency;
                }
            }

            if (Fifo)
            {
                victim = victimFrequency < 0 ? victim : (set * Ways) + ((before >> 1) % Ways);
            }
            else if (victimFrequency >= 0 && _sketch.Estimate(hash) <= victimFrequency)
            {
                return false;
            }

            Write(victim, tag, key, value);
            admitted = true;
            return true;
        }
        finally
        {
            ReleaseSet(set, before, changed: admitted);
        }
    }

    /// <summary>The set of a mixed tag: the high half of hash × sets (Lemire's reduction: any
    /// number of sets, so the cache uses the memory it is given).</summary>
    private int SetOf(ulong hash) => (int)Math.BigMul(hash, _sets, out _);

    /// <summary>Puts a row into an empty way of its set, evicting nothing (a prefill: the rows a
    /// cold cache starts with until requests bring better ones). False when its set is full.</summary>
    public bool Fill(ulong tag, ulong key, ReadOnlySpan<byte> value)
    {
        if (value.Length > RowBytes || tag == 0)
        {
            return false;
        }

        var set = SetOf(KeyHash.Mix(tag));
        if (!TryTakeSet(set, out var before))
        {
            return false;
        }

        var filled = -1;
        for (var way = 0; way < Ways && filled < 0; way++)
        {
            var i = (set * Ways) + way;
            if (_tags[i] == tag)
            {
                break;
            }

            if (_tags[i] == 0)
            {
                Write(i, tag, key, value);
                filled = i;
            }
        }

        ReleaseSet(set, before, changed: filled >= 0);
        return filled >= 0;
    }

    /// <summary>
    /// Re-files cached rows when the packages they were read from are replaced by others holding
    /// the same rows (a merge, a fold): <paramref name="moveTo"/> gets an entry's tag and key and
    /// answers the tag it now lives under (the same: kept; 0: dropped). A moved row keeps its
    /// frequency, so the hot rows stay hot. Returns the rows moved. Readers see a moved row as a
    /// miss for a moment (then a device read), never another row.
    /// </summary>
    public long Retag(Func<ulong, ulong, ulong> moveTo)
    {
        long moved = 0;
        var row = new byte[RowBytes];
        for (var set = 0; set < (int)_sets; set++)
        {
            for (var way = 0; way < Ways; way++)
            {
                var i = (set * Ways) + way;
                var (tag, key) = (_tags[i], _keys[i]);
                if (tag == 0)
                {
                    continue;
                }

                var to = moveTo(tag, key);
                if (to == tag)
                {
                    continue;
                }

                // Take the row out under its set's lock, then file it under its new tag.
                if (!TryTakeSet(set, out var before))
                {
                    way--; // a writer has the set for an instant: look again
                    Thread.SpinWait(16);
                    continue;
                }

                var length = 0;
                var frequency = 0;
                if (_tags[i] == tag)
                {
                    length = _lengths[i];
                    new ReadOnlySpan<byte>(_rows + ((long)i * RowBytes), length).CopyTo(row);
                    frequency = _sketch.Estimate(KeyHash.Mix(tag));
                    _tags[i] = 0;
                }

                ReleaseSet(set, before, changed: true);
                if (to != 0 && length > 0 && Place(to, key, row.AsSpan(0, length), frequency))
                {
                    moved++;
                }
            }
        }

        return moved;
    }

    /// <summary>Files a row under <paramref name="tag"/>, evicting its set's least frequent entry
    /// if it is more frequent than that, and gives it <paramref name="frequency"/> in the sketch.</summary>
    private bool Place(ulong tag, ulong key, ReadOnlySpan<byte> value, int frequency)
    {
        var hash = KeyHash.Mix(tag);
        for (var f = _sketch.Estimate(hash); f < frequency; f++)
        {
            _sketch.Increment(hash);
        }

        var set = SetOf(hash);
        if (!TryTakeSet(set, out var before))
        {
            return false;
        }

        var victim = -1;
        var victimFrequency = int.MaxValue;
        for (var way = 0; way < Ways; way++)
        {
            var i = (set * Ways) + way;
            var f = _tags[i] == 0 ? -1 : _tags[i] == tag ? int.MinValue : _sketch.Estimate(KeyHash.Mix(_tags[i]));
            if (f < victimFrequency)
            {
                (victim, victimFrequency) = (i, f);
            }
        }

        var placed = victimFrequency == int.MinValue || victimFrequency < frequency || victimFrequency < 0;
        if (placed)
        {
            Write(victim, tag, key, value);
        }

        ReleaseSet(set, before, changed: placed);
        return placed;
    }

    /// <summary>Takes a set for writing: its sequence goes odd, so a reader copying from it looks
    /// again. False when another writer has it: writers skip, never wait.</summary>
    private bool TryTakeSet(int set, out int before)
    {
        before = Volatile.Read(ref _sequences[set]);
        return (before & 1) == 0 && Interlocked.CompareExchange(ref _sequences[set], before + 1, before) == before;
    }

    /// <summary>Gives a set back: unchanged, to the number readers saw (nothing they copied moved);
    /// changed, two on (a reader that copied during the write sees the difference and looks again).</summary>
    private void ReleaseSet(int set, int before, bool changed) =>
        Volatile.Write(ref _sequences[set], changed ? before + 2 : before);

    /// <summary>Writes one entry; the caller holds its set.</summary>
    private void Write(int entry, ulong tag, ulong key, ReadOnlySpan<byte> value)
    {
        _tags[entry] = tag;
        _keys[entry] = key;
        _lengths[entry] = value.Length;
        value.CopyTo(new Span<byte>(_rows + ((long)entry * RowBytes), RowBytes));
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            NativeMemory.AlignedFree(_rows);
        }
    }
}
