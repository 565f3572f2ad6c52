using System.Buffers;

namespace Appliance.Core.Buffers;

/// <summary>
/// The bytes read from a stream or socket and not yet consumed: one array holding
/// <c>[consumed | Data | Free]</c>. A reader receives into <see cref="Free"/>, <see cref="Commit"/>s
/// what arrived, parses whole messages from the front of <see cref="Data"/> and
/// <see cref="Consume"/>s them, then calls <see cref="Compact"/> with the size of the message in
/// progress (if known), which moves the unparsed tail to the front and grows the array only when
/// that message cannot fit. The server's connections, the cluster client, the raw load generator
/// and the SequenceFile reader all read through this one type.
/// </summary>
internal sealed class ReceiveBuffer
{
    /// <summary>Pooled arrays stay at or under this size; a pooled buffer that must be larger is
    /// native memory, freed as soon as it is released (one huge request leaves nothing behind).</summary>
    private const int MaxPooled = 1 << 20;

    private readonly bool _pooled;
    private Memory<byte> _buffer;
    private object? _owner;
    private int _start;
    private int _end;

    /// <param name="initialCapacity">bytes to start with (0: none until <see cref="Reserve"/> or
    /// <see cref="Compact"/>).</param>
    /// <param name="pooled">storage comes from (and goes back to) the shared pool, or native memory
    /// when large: for the server's connections, which hold a buffer only while a request is in
    /// flight.</param>
    public ReceiveBuffer(int initialCapacity = 64 << 10, bool pooled = false)
    {
        _pooled = pooled;
        if (initialCapacity > 0)
        {
            (_buffer, _owner) = Allocate(initialCapacity);
        }
    }

    /// <summary>Received bytes not consumed yet.</summary>
    public ReadOnlySpan<byte> Data => _buffer.Span[_start.._end];

    /// <summary>The same bytes as memory (for a copy that must outlive the next receive).</summary>
    public ReadOnlyMemory<byte> DataMemory => _buffer[_start.._end];

    public int Length => _end - _start;

    public int Capacity => _buffer.Length;

    /// <summary>Room after the data, to receive into.</summary>
    public Memory<byte> Free => _buffer[_end..];

    public Span<byte> FreeSpan => _buffer.Span[_end..];

    /// <summary>Bytes consumed since the buffer was created (a reader's stream position is this
    /// plus an offset into <see cref="Data"/>).</summary>
    public long ConsumedTotal { get; private set; }

    /// <summary>Marks <paramref name="count"/> bytes received into <see cref="Free"/> as data.</summary>
    public void Commit(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _end);
        _end += count;
    }

    /// <summary>Drops <paramref name="count"/> parsed bytes from the front of <see cref="Data"/>.</summary>
    public void Consume(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _end - _start);
        _start += count;
        ConsumedTotal += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Moves the data to the front of the array and makes room for a message of
    /// <paramref name="needed"/> bytes in total (0: unknown, just keep some room). The caller bounds
    /// <paramref name="needed"/> (a frame's length was checked against the maximum before this).
    /// The array doubles when full, so reading a long stream costs amortised constant copies.
    /// </summary>
    public void Compact(int needed = 0)
    {
        if (_start > 0)
        {
            var length = _end - _start;
            _buffer.Span[_start.._end].CopyTo(_buffer.Span);
            _start = 0;
            _end = length;
        }

        var wanted = Math.Max(needed, _end == _buffer.Length ? _buffer.Length + 1 : 0);
        if (wanted > _buffer.Length)
        {
            var (grown, owner) = Allocate(Math.Max(wanted, _buffer.Length == 0 ? 16 : _buffer.Length * 2));
            _buffer.Span[.._end].CopyTo(grown.Span);
            Return();
            (_buffer, _owner) = (grown, owner);
        }
    }

    /// <summary>Makes sure there is room for at least <paramref name="capacity"/> bytes.</summary>
    public void Reserve(int capacity)
    {
        if (_buffer.Length < capacity)
        {
            Compact(capacity);
        }
    }

    /// <summary>Gives the storage back when no data is held (an idle connection keeps nothing).</summary>
    public void Release()
    {
        if (_start == _end && _buffer.Length > 0)
        {
            Return();
            _buffer = Memory<byte>.Empty;
            _owner = null;
            _start = _end = 0;
        }
    }

    /// <summary>Forgets everything (the counters of consumed bytes keep counting).</summary>
    public void Clear()
    {
        ConsumedTotal += _end - _start;
        _start = _end = 0;
    }

    private (Memory<byte> Memory, object? Owner) Allocate(int size)
    {
        if (!_pooled)
        {
            return (new byte[size], null);
        }

        if (size <= MaxPooled)
        {
            var array = ArrayPool<byte>.Shared.Rent(size);
            return (array, array);
        }

        var block = LargeBlockCache.Rent(size);
        return (block.Memory, block);
    }

    private void Return()
    {
        switch (_owner)
        {
            case byte[] array:
                ArrayPool<byte>.Shared.Return(array);
                break;
            case NativeBlock block:
                LargeBlockCache.Return(block);
                break;
        }
    }
}
