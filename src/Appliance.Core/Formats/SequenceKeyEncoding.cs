namespace Appliance.Core.Formats;

/// <summary>How the 8 key bytes sit inside a SequenceFile record's key blob. Detected from the
/// header's key class and the first record, then required of every record in the file.</summary>
internal enum SequenceKeyEncoding
{
    /// <summary>Not known yet (no record read).</summary>
    Unknown = 0,

    /// <summary>Cube's variant: key_len = 8, the blob is a little-endian uint64 (kvtool.py, seq_generator).</summary>
    RawLittleEndian = 1,

    /// <summary>Real Hadoop BytesWritable: key_len = 12, a big-endian int32 length (= 8), then the
    /// little-endian uint64. Values then carry the same 4-byte length prefix, which is stripped.</summary>
    BytesWritable = 2,

    /// <summary>Hadoop LongWritable keys (key class <c>org.apache.hadoop.io.LongWritable</c>): 8 bytes, big-endian.</summary>
    LongWritable = 3,
}
