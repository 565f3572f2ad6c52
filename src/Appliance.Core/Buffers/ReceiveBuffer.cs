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
public sealed class ReceiveBuffer
{
    private byte[] _buffer;
    private int _start;
    private int _end;

    public ReceiveBuffer(int initialCapacity = 64 << 10)
    {
        _buffer = initialCapacity == 0 ? [] : new byte[initialCapacity];
    }

    /// <summary>Received bytes not consumed yet.</summary>
    public ReadOnlySpan<byte> Data => _buffer.AsSpan(_start, _end - _start);

    /// <summary>The same bytes as memory (for a copy that must outlive the next receive).</summary>
    public ReadOnlyMemory<byte> DataMemory => _buffer.AsMemory(_start, _end - _start);

    public int Length => _end - _start;

    public int Capacity => _buffer.Length;

    /// <summary>Room after the data, to receive into.</summary>
    public Memory<byte> Free => _buffer.AsMemory(_end);

    public Span<byte> FreeSpan => _buffer.AsSpan(_end);

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
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, length);
            _start = 0;
            _end = length;
        }

        var wanted = Math.Max(needed, _end == _buffer.Length ? _buffer.Length + 1 : 0);
        if (wanted > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(wanted, _buffer.Length == 0 ? 16 : _buffer.Length * 2));
        }
    }

    /// <summary>Forgets everything (the counters of consumed bytes keep counting).</summary>
    public void Clear()
    {
        ConsumedTotal += _end - _start;
        _start = _end = 0;
    }
}
