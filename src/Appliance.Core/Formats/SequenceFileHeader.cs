namespace Appliance.Core.Formats;

/// <summary>The parsed header of a SequenceFile.</summary>
internal sealed record SequenceFileHeader(
    byte Version,
    string KeyClass,
    string ValueClass,
    int MetadataCount,
    byte[] Sync,
    long FirstRecordOffset)
{
    public const string BytesWritableClass = "org.apache.hadoop.io.BytesWritable";
    public const string LongWritableClass = "org.apache.hadoop.io.LongWritable";
    public const int SyncSize = 16;
}
