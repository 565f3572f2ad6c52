using System.Buffers.Binary;

namespace Appliance.Core.Storage;

/// <summary>A full structural check of an opened (so checksum-verified) shard, beyond what a
/// loader needs: every record is well formed and reachable from the index at its own offset,
/// every index slot points at a record start with that record's fingerprint, the counts agree,
/// rows have the codec's length, and no key belongs to another shard. Each defect names the file
/// and offset; the list is capped.</summary>
internal sealed unsafe partial class MappedShard
{
    public const int MaxDefects = 20;

    public IReadOnlyList<string> Audit()
    {
        var defects = new List<string>();
        void Defect(string file, ulong offset, string what)
        {
            if (defects.Count < MaxDefects)
            {
                defects.Add($"{Path.Combine(Directory, file)}: offset {offset}: {what}");
            }
        }

        var codec = Codec;
        var rowBytes = ValueCodecs.IsFloat(codec) ? ValueCodecs.EncodedLength(codec, Manifest.Dimension) : -1;
        var recordStarts = new HashSet<ulong>();
        ulong offset = ShardLayout.HeaderSize;
        long records = 0;
        while (offset < _valuesLength && defects.Count < MaxDefects)
        {
            if (offset + ShardLayout.RecordHeaderSize > _valuesLength)
            {
                Defect(ShardLayout.ValuesFileName, offset, "a record header runs past the end of the file");
                break;
            }

            var key = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_records + offset, 8));
            var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_records + offset + 8, 4));
            if (offset + ShardLayout.RecordHeaderSize + length > _valuesLength)
            {
                Defect(ShardLayout.ValuesFileName, offset, $"key {key}: its {length}-byte value runs past the end of the file");
                break;
            }

            records++;
            recordStarts.Add(offset);
            if (rowBytes >= 0 && length != rowBytes)
            {
                Defect(ShardLayout.ValuesFileName, offset, $"key {key}: {length} bytes; a {ValueCodecs.Name(codec)} row of dimension {Manifest.Dimension} is {rowBytes}");
            }

            if (ShardRouting.ShardOf(key, Manifest.ShardCount) != Manifest.Shard)
            {
                Defect(ShardLayout.ValuesFileName, offset, $"key {key} belongs to shard {ShardRouting.ShardOf(key, Manifest.ShardCount)} of {Manifest.ShardCount}, not {Manifest.Shard}");
            }

            var found = Find(key);
            if (!found.Found)
            {
                Defect(ShardLayout.ValuesFileName, offset, $"key {key} is not reachable from the index");
            }
            else if ((ulong)(found.Pointer - _records) != offset + ShardLayout.RecordHeaderSize)
            {
                Defect(ShardLayout.ValuesFileName, offset, $"key {key} is stored twice; the index finds another record");
            }

            var next = offset + ShardLayout.RecordHeaderSize + length;
            offset = (next + ShardLayout.RecordAlignment - 1) / ShardLayout.RecordAlignment * ShardLayout.RecordAlignment;
        }

        if (records != Manifest.Keys)
        {
            Defect(ShardLayout.ValuesFileName, ShardLayout.HeaderSize, $"{records} records; the manifest says {Manifest.Keys} keys");
        }

        long used = 0;
        var slots = _bucketCount * ShardLayout.SlotsPerBucket;
        for (ulong i = 0; i < slots && defects.Count < MaxDefects; i++)
        {
            var slot = _slots[i];
            if (slot == 0)
            {
                continue;
            }

            used++;
            var at = ShardLayout.SlotRecordOffset(slot);
            var where = (ulong)ShardLayout.HeaderSize + (i * ShardLayout.SlotSize);
            if (!recordStarts.Contains(at))
            {
                Defect(ShardLayout.IndexFileName, where, $"slot points at values offset {at}, which is not a record start");
                continue;
            }

            var key = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_records + at, 8));
            if (ShardLayout.SlotFingerprint(slot) != KeyHash.Fingerprint(KeyHash.Mix(key)))
            {
                Defect(ShardLayout.IndexFileName, where, $"slot's fingerprint does not match key {key} at values offset {at}");
            }
        }

        if (used != records)
        {
            Defect(ShardLayout.IndexFileName, ShardLayout.HeaderSize, $"{used} occupied slots for {records} records");
        }

        return defects;
    }
}
