using System.Diagnostics;
using Appliance.Core.Diagnostics;

namespace Appliance.Core.Storage;

/// <summary>
/// Counters a running build updates and a <see cref="ProgressMeter"/> reads: records and input
/// bytes read, shards written. Parsing threads add records in steps of
/// <see cref="RecordStep"/> (one interlocked add per 64 Ki records keeps the parse loop's cost
/// unchanged), input bytes when a file is done.
/// </summary>
internal sealed class BuildProgress
{
    internal const int RecordStep = 1 << 16;

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _records;
    private long _bytes;
    private int _files;
    private int _shards;

    public long Records => Interlocked.Read(ref _records);

    public long BytesRead => Interlocked.Read(ref _bytes);

    public int FilesRead => Volatile.Read(ref _files);

    public int ShardsWritten => Volatile.Read(ref _shards);

    public long BytesTotal { get; internal set; }

    public int FilesTotal { get; internal set; }

    public int ShardsTotal { get; internal set; }

    /// <summary>"pass 1/2" while several passes are needed, empty otherwise.</summary>
    public string Pass { get; internal set; } = string.Empty;

    /// <summary>One line: "build: 12.30 M records (4.10 M/s), 3/8 files, 1.2 GiB of 3.0 GiB read (410.0 MiB/s), 0/8 shards written, ETA 0m04s".</summary>
    public string Describe()
    {
        var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        var bytes = BytesRead;
        return $"build{(Pass.Length > 0 ? $" {Pass}" : string.Empty)}: {ProgressMeter.Count(Records)} records ({ProgressMeter.Count(Records / seconds)}/s), "
            + $"{FilesRead}/{FilesTotal} files, {ProgressMeter.Bytes(bytes)} of {ProgressMeter.Bytes(BytesTotal)} read ({ProgressMeter.Bytes(bytes / seconds)}/s), "
            + $"{ShardsWritten}/{ShardsTotal} shards written {ProgressMeter.Eta(bytes, BytesTotal, _clock.Elapsed)}".TrimEnd();
    }

    internal void AddRecords(long count) => Interlocked.Add(ref _records, count);

    internal void FileDone(long bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Increment(ref _files);
    }

    internal void ShardDone() => Interlocked.Increment(ref _shards);
}
