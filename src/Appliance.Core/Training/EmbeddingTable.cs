namespace Appliance.Core.Training;

/// <summary>
/// The trainer's sparse table: key → row, the rows (dim floats each), Adagrad's per-weight sum of
/// squared gradients, and a per-row "updated since the last export" flag that makes a delta export
/// exactly the rows training touched. Rows are added only between epochs (one thread); during an
/// epoch threads update rows without locks (Hogwild), which only costs an occasional lost update.
/// </summary>
internal sealed class EmbeddingTable
{
    private readonly Dictionary<ulong, int> _index = [];
    private ulong[] _keys = [];
    private float[] _values = [];
    private float[] _accumulators = [];
    private byte[] _dirty = [];

    public EmbeddingTable(int dimension, ulong seed)
    {
        Dimension = dimension;
        Seed = seed;
    }

    public int Dimension { get; }

    /// <summary>Seeds each new row's initial values (a function of the key, so rows do not depend
    /// on the order keys were first seen).</summary>
    public ulong Seed { get; }

    public int Count { get; private set; }

    public ReadOnlySpan<ulong> Keys => _keys.AsSpan(0, Count);

    public Span<float> Values => _values.AsSpan(0, Count * Dimension);

    public Span<float> Accumulators => _accumulators.AsSpan(0, Count * Dimension);

    public Span<byte> Dirty => _dirty.AsSpan(0, Count);

    public float[] RawValues => _values;

    public int Find(ulong key) => _index.TryGetValue(key, out var row) ? row : -1;

    public int GetOrAdd(ulong key)
    {
        if (_index.TryGetValue(key, out var row))
        {
            return row;
        }

        row = Count;
        Grow(row + 1);
        _keys[row] = key;
        _index.Add(key, row);
        Count = row + 1;
        Initialise(key, _values.AsSpan(row * Dimension, Dimension));
        _accumulators.AsSpan(row * Dimension, Dimension).Fill(Adagrad.InitialAccumulator);
        return row;
    }

    /// <summary>Adds a row with given state (loading a checkpoint).</summary>
    public void Restore(ulong key, ReadOnlySpan<float> values, ReadOnlySpan<float> accumulators, byte dirty)
    {
        var row = GetOrAdd(key);
        values.CopyTo(_values.AsSpan(row * Dimension, Dimension));
        accumulators.CopyTo(_accumulators.AsSpan(row * Dimension, Dimension));
        _dirty[row] = dirty;
    }

    public Span<float> Row(int row) => _values.AsSpan(row * Dimension, Dimension);

    private void Initialise(ulong key, Span<float> destination)
    {
        // Uniform in ±0.05 from a SplitMix64 stream seeded by the key.
        var state = key ^ Seed;
        for (var d = 0; d < destination.Length; d++)
        {
            state += 0x9E3779B97F4A7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            destination[d] = (float)((((z >> 11) * (1.0 / (1UL << 53))) - 0.5) * 0.1);
        }
    }

    private void Grow(int rows)
    {
        if (rows <= _keys.Length)
        {
            return;
        }

        var capacity = Math.Max(rows, Math.Max(1024, _keys.Length * 2));
        Array.Resize(ref _keys, capacity);
        Array.Resize(ref _values, capacity * Dimension);
        Array.Resize(ref _accumulators, capacity * Dimension);
        Array.Resize(ref _dirty, capacity);
    }
}
