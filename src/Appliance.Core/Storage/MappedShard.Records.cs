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
}
