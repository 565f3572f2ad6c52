using System.Buffers.Binary;

namespace Appliance.Core.Storage;

public sealed unsafe partial class MappedShard
{
    /// <summary>Appends every record of this package, in the values file's order, to
    /// <paramref name="buffer"/> (the stored bytes, whatever the codec). A merge feeds layers
    /// oldest first; the writer keeps the last occurrence of a key, so the newest value wins.</summary>
    internal void CopyRecordsTo(EntryBuffer buffer)
    {
        ulong offset = ShardLayout.HeaderSize;
        while (offset + ShardLayout.RecordHeaderSize <= _valuesLength)
        {
            var key = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_records + offset, 8));
            var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_records + offset + 8, 4));
            if (offset + ShardLayout.RecordHeaderSize + length > _valuesLength)
            {
                throw new Formats.InputFormatException(Path.Combine(Directory, ShardLayout.ValuesFileName), $"offset {offset}", $"key {key}: its {length}-byte value runs past the end of the file");
            }

            buffer.Add(key, new ReadOnlySpan<byte>(_records + offset + ShardLayout.RecordHeaderSize, (int)length));
            var next = offset + ShardLayout.RecordHeaderSize + length;
            offset = (next + ShardLayout.RecordAlignment - 1) / ShardLayout.RecordAlignment * ShardLayout.RecordAlignment;
        }
    }

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
        ulong offset = ShardLayout.HeaderSize;
        while (offset + ShardLayout.RecordHeaderSize <= _valuesLength && n < keys.Length)
        {
            keys[n++] = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_records + offset, 8));
            var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_records + offset + 8, 4));
            var next = offset + ShardLayout.RecordHeaderSize + length;
            offset = (next + ShardLayout.RecordAlignment - 1) / ShardLayout.RecordAlignment * ShardLayout.RecordAlignment;
        }

        if (n != Manifest.Keys)
        {
            return; // not what the manifest says: no filter, so every lookup probes the layer itself
        }

        Interlocked.CompareExchange(ref _filter, KeyFilter.Of(keys.AsSpan(0, n)), null);
    }
}
