using System.Buffers.Binary;

namespace Appliance.Core.Storage;

/// <summary>
/// On-disk layout of one shard package (a directory <c>&lt;dict&gt;_part&lt;i&gt;/</c>). All integers
/// little-endian. Pinned by <c>ShardLayoutTests</c> (golden bytes).
/// <code>
/// index.bin
///   0   u32  magic "CIDX" (0x58444943)
///   4   u16  format version (1)
///   6   u16  slot size in bytes (8)
///   8   u64  bucket count B (≥ 1)
///   16  u64  key count
///   24  u64  values.bin length in bytes (cross-check)
///   32  32 bytes reserved, zero
///   64  B buckets × 64 bytes; a bucket is 8 slots of u64, one cache line:
///         slot = 0                       empty
///         slot bits 0..39                record offset in values.bin ÷ 8
///         slot bits 40..63               24-bit key fingerprint (KeyHash.Fingerprint, never 0)
///       key k lives in the first bucket, from KeyHash.Bucket(Mix(k), B) onwards (wrapping),
///       that has room; a lookup stops at the first bucket holding an empty slot.
///
/// values.bin
///   0   u32  magic "CVAL" (0x4C415643)
///   4   u16  format version (1)
///   6   u16  value codec (ValueCodec)
///   8   u32  dimension (floats per row; 0 for raw)
///   12  u32  reserved
///   16  u64  record count
///   24  40 bytes reserved, zero
///   64  records, each starting on an 8-byte boundary:
///         u64 key | u32 value length n | n value bytes | zero padding to 8
/// </code>
/// One lookup touches one cache line of index (the bucket) and the record, whose key confirms the
/// fingerprint match. 8-byte slots at a load factor of 0.75 cost 10.7 bytes of index per key.
/// </summary>
internal static class ShardLayout
{
    public const uint IndexMagic = 0x58444943; // "CIDX"
    public const uint ValuesMagic = 0x4C415643; // "CVAL"
    public const ushort FormatVersion = 1;
    public const int HeaderSize = 64;
    public const int SlotSize = 8;
    public const int SlotsPerBucket = 8;
    public const int BucketSize = SlotSize * SlotsPerBucket;
    public const int RecordHeaderSize = 12;
    public const int RecordAlignment = 8;
    public const double LoadFactor = 0.75;
    public const ulong MaxValuesBytes = (1UL << 40) * RecordAlignment;
    public const string IndexFileName = "index.bin";
    public const string ValuesFileName = "values.bin";
    public const string ManifestFileName = "manifest.json";

    public static ulong BucketCountFor(long keys) =>
        Math.Max(1UL, (ulong)Math.Ceiling(keys / (SlotsPerBucket * LoadFactor)));

    public static ulong MakeSlot(uint fingerprint, ulong recordOffset) =>
        ((ulong)fingerprint << 40) | (recordOffset / RecordAlignment);

    public static ulong SlotRecordOffset(ulong slot) => (slot & 0xFF_FFFF_FFFFUL) * RecordAlignment;

    public static uint SlotFingerprint(ulong slot) => (uint)(slot >> 40);

    public static int RecordSize(int valueLength) =>
        (RecordHeaderSize + valueLength + RecordAlignment - 1) & ~(RecordAlignment - 1);

    public static void WriteIndexHeader(Span<byte> header, ulong bucketCount, long keyCount, long valuesLength)
    {
        header[..HeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, IndexMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], SlotSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], bucketCount);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], keyCount);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], valuesLength);
    }

    public static void WriteValuesHeader(Span<byte> header, ValueCodec codec, int dimension, long recordCount)
    {
        header[..HeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, ValuesMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)codec);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], dimension);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], recordCount);
    }
}
