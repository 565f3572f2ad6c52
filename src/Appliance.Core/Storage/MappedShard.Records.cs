namespace Appliance.Core.Storage;

internal sealed unsafe partial class MappedShard
{
    /// <summary>The records of this package in the values file's order (the stored bytes,
    /// whatever the codec). Valid while the caller holds a reference on the package.</summary>
    internal RecordWalker Records() => new(_records, _valuesLength, Path.Combine(Directory, ShardLayout.ValuesFileName));

    /// <summary>The filter of this layer's keys, built once when it first becomes a patch layer of
    /// a view (never for a base: every key reaches the base anyway).</summary>
    internal KeyFilter? Filter => Volatile.Read(ref _filter);

    private KeyFilter? _filter;

    internal void EnsureFilter()
    {
        if (Volatile.Read(ref _filter) is not null)
        {
            return;
        }

        var keys = new ulong[Manifest.Keys];
        var n = 0;
        try
        {
            var records = Records();
            while (n < keys.Length && records.Next(out var key, out _))
            {
                keys[n++] = key;
            }
        }
        catch (Formats.InputFormatException)
        {
            return; // a record runs past the end: no filter, so every lookup probes the layer itself
        }

        if (n != Manifest.Keys)
        {
            return; // not what the manifest says: no filter, so every lookup probes the layer itself
        }

        Interlocked.CompareExchange(ref _filter, KeyFilter.Of(keys.AsSpan(0, n)), null);
    }
}

/// <summary>
/// Walks the records of a values file from the first to the last, each
/// <c>[u64 key][u32 length][value][padding to 8]</c> (<see cref="ShardLayout"/>). A record that
/// runs past the end of the file is an <see cref="Formats.InputFormatException"/> naming its offset.
/// </summary>
internal unsafe struct RecordWalker(byte* records, ulong length, string path)
{
    private ulong _offset = ShardLayout.HeaderSize;

    public bool Next(out ulong key, out ReadOnlySpan<byte> value)
    {
        if (_offset + ShardLayout.RecordHeaderSize > length)
        {
            key = 0;
            value = default;
            return false;
        }

        key = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(records + _offset, 8));
        var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(records + _offset + 8, 4));
        if (_offset + ShardLayout.RecordHeaderSize + size > length)
        {
            throw new Formats.InputFormatException(path, $"offset {_offset}", $"key {key}: its {size}-byte value runs past the end of the file");
        }

        value = new ReadOnlySpan<byte>(records + _offset + ShardLayout.RecordHeaderSize, (int)size);
        _offset = (ulong)ShardLayout.RecordSize((int)size) + _offset;
        return true;
    }
}
