namespace Appliance.Core.Engine;

/// <summary>
/// A request's distinct keys in order of first use, each with its index: the keys are what the
/// gather asks the table for, the index is where each slot finds its row. Open addressing over a
/// power-of-two table of (index + 1), 0 = empty, at most half full; kept between requests and
/// cleared, not reallocated.
/// <para>Dictionary&lt;ulong, int&gt; did the same with twice the lookups (add, then find again per
/// slot) and entries that ONNX Runtime's run pushes out of the cache between requests: under
/// <c>perf</c> it was 8 % of a batch of 256 end to end; this is one probe per slot, usually to a
/// line already in the cache.</para>
/// </summary>
internal sealed class KeyIndex
{
    private ulong[] _keys = [];
    private int[] _table = [];
    private int _mask;
    private int _shift;

    public int Count { get; private set; }

    /// <summary>The distinct keys, in order of first use.</summary>
    public ReadOnlyMemory<ulong> Keys => _keys.AsMemory(0, Count);

    /// <summary>Empties the index, with room for <paramref name="capacity"/> distinct keys.</summary>
    public void Reset(int capacity)
    {
        var size = (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity * 2));
        if (_keys.Length < capacity)
        {
            _keys = new ulong[capacity];
        }

        if (_table.Length < size)
        {
            _table = new int[size];
        }
        else
        {
            // Only the part this request probes: what lies beyond is cleared by the reset that uses it.
            Array.Clear(_table, 0, size);
        }

        _mask = size - 1;
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)size);
        Count = 0;
    }

    /// <summary>The index of <paramref name="key"/>, added at the end if it is new. At most the
    /// capacity given to <see cref="Reset"/> distinct keys.</summary>
    public int Add(ulong key)
    {
        // Fibonacci hashing: the top bits of key × 2^64/φ spread both small paddle ids and xxh64 keys.
        var slot = (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
        while (true)
        {
            var entry = _table[slot];
            if (entry == 0)
            {
                _keys[Count] = key;
                _table[slot] = ++Count;
                return Count - 1;
            }

            if (_keys[entry - 1] == key)
            {
                return entry - 1;
            }

            slot = (slot + 1) & _mask;
        }
    }
}
