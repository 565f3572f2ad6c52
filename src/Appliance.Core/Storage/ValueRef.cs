namespace Appliance.Core.Storage;

/// <summary>
/// The answer for one key of a batch lookup: where the value sits in a mapped shard. Valid only
/// while the <see cref="ShardLease"/> it came from is held. <see cref="Found"/> is false for a
/// missing key (a value may legitimately be empty, so length alone cannot say), and for a key whose
/// read failed (<see cref="IsFailed"/>).
/// </summary>
internal readonly unsafe struct ValueRef
{
    private readonly byte* _pointer;

    internal ValueRef(byte* pointer, int length)
    {
        _pointer = pointer;
        Length = length;
    }

    public static ValueRef Missing => default;

    /// <summary>The key could not be read (a disk tier's read error or short read): the request
    /// must fail, never answer "missing" or a value.</summary>
    public static ValueRef Failed => new(null, -1);

    public bool Found => _pointer != null;

    public bool IsFailed => Length < 0;

    public int Length { get; }

    public ReadOnlySpan<byte> Span => new(_pointer, Length);

    /// <summary>Where the value starts (an audit checks which record the index found).</summary>
    internal byte* Pointer => _pointer;
}
