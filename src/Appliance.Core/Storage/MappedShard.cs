using System.Buffers.Binary;
using System.Text.Json;
using Appliance.Core.Formats;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>
/// One shard package, memory-mapped and verified (layout: <see cref="ShardLayout"/>). Open
/// checks every checksum in the manifest before the package can be used, so a corrupt or
/// half-copied package never serves. Reference-counted: the mapping goes away when the last
/// view holding it is drained.
/// The index is always faulted in (like the original, which kept its index in RAM);
/// <c>inMemory</c> decides whether values are too.
/// </summary>
internal sealed unsafe partial class MappedShard : RefCounted
{
    private readonly MappedFile _index;
    private readonly MappedFile _values;
    private readonly ulong* _slots;
    private readonly byte* _records;
    private readonly ulong _bucketCount;
    private readonly ulong _valuesLength;

    /// <summary>This package as the one layer of a lookup.</summary>
    private readonly LayerTable[] _alone;

    private MappedShard(string directory, ShardManifest manifest, MappedFile index, MappedFile values, ulong bucketCount, DiskTier? tier, DiskValues? disk)
    {
        Tier = tier;
        Disk = disk;
        Directory = directory;
        Manifest = manifest;
        _index = index;
        _values = values;
        _slots = (ulong*)(index.Pointer + ShardLayout.HeaderSize);
        _records = values.Pointer;
        _bucketCount = bucketCount;
        _valuesLength = (ulong)values.Length;
        _alone = [new LayerTable(_slots, _records, bucketCount, _valuesLength)];
        Codec = ValueCodecs.TryParse(manifest.Codec, out var codec) ? codec : ValueCodec.Raw;
    }

    public string Directory { get; }

    public ShardManifest Manifest { get; }

    public ValueCodec Codec { get; }

    public long Keys => Manifest.Keys;

    /// <summary>The disk tier this package's values are read through, or null (values mapped).</summary>
    public DiskTier? Tier { get; }

    /// <summary>values.bin opened for direct reads (with <see cref="Tier"/>).</summary>
    internal DiskValues? Disk { get; }

    public long MappedBytes => _index.Length + _values.Length;

    public long IndexBytes => _index.Length;

    /// <summary>Maps and verifies the package in <paramref name="directory"/>; throws
    /// <see cref="InputFormatException"/> naming the file at fault. The checksums are skipped only
    /// when <paramref name="trustStamp"/> and the <see cref="VerifiedStamp"/> proves the files are
    /// the ones hashed before (<c>cube package verify</c> passes false: it always hashes).</summary>
    /// <param name="tier">the shard's disk tier: values are read from the device through it
    /// (then <paramref name="inMemory"/> is ignored: the values file is mapped but never faulted in
    /// for lookups)</param>
    public static MappedShard Open(string directory, bool inMemory, bool trustStamp = true, DiskTier? tier = null)
    {
        inMemory &= tier is null;
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("shard files are little-endian and read in place");
        }

        var manifest = ReadManifest(directory);
        var indexPath = Path.Combine(directory, ShardLayout.IndexFileName);
        var valuesPath = Path.Combine(directory, ShardLayout.ValuesFileName);
        CheckLength(indexPath, manifest.Index.Bytes);
        CheckLength(valuesPath, manifest.Values.Bytes);
        // In memory: the process's own copy (a file changed on disk afterwards cannot reach it);
        // otherwise mapped (the page cache serves it; its files must not change while live).
        // A disk tier's index is the process's own memory too: under a memory limit the kernel
        // could otherwise drop its pages (they are file pages) and every lookup would fault.
        var index = inMemory || tier is not null ? MappedFile.Copy(indexPath) : MappedFile.Open(indexPath, populate: true);
        MappedFile? values = null;
        try
        {
            values = inMemory ? MappedFile.Copy(valuesPath) : MappedFile.Open(valuesPath, populate: false);
            // Hashed once per package, not on every load (VerifiedStamp: cold start independent of size).
            var stamped = trustStamp && VerifiedStamp.Matches(directory, manifest);
            if (!stamped)
            {
                Verify(index, manifest.Index);
                Verify(values, manifest.Values);
            }

            var bucketCount = CheckHeaders(index, values, manifest);
            if (!stamped)
            {
                VerifiedStamp.TryWrite(directory, manifest);
            }

            DiskValues? disk = null;
            if (tier is not null)
            {
                var rowBytes = ValueCodecs.TryParse(manifest.Codec, out var c) && ValueCodecs.IsFloat(c) ? ValueCodecs.EncodedLength(c, manifest.Dimension) : -1;
                tier.Prepare(rowBytes < 0 ? RawRowBytes(values, valuesPath) : rowBytes);
                disk = DiskValues.Open(valuesPath, rowBytes, values.Length);
                _ = LibC.madvise((nint)values.Pointer, (nuint)values.Length, LibC.MadvRandom); // merges and audits only
            }

            return new MappedShard(directory, manifest, index, values, bucketCount, tier, disk);
        }
        catch
        {
            index.Dispose();
            values?.Dispose();
            throw;
        }
    }

    public static ShardManifest ReadManifest(string directory)
    {
        var path = Path.Combine(directory, ShardLayout.ManifestFileName);
        try
        {
            var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), StorageJsonContext.Default.ShardManifest)
                ?? throw new InputFormatException(path, "offset 0", "manifest is null");
            if (manifest.Format != ShardManifest.CurrentFormat)
            {
                throw new InputFormatException(path, "field format", $"package format {manifest.Format} is not supported (expected {ShardManifest.CurrentFormat})");
            }

            return manifest;
        }
        catch (JsonException e)
        {
            throw new InputFormatException(path, e.BytePositionInLine is { } p ? $"line {e.LineNumber + 1}, byte {p}" : "offset 0", $"manifest is not valid: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read manifest: {e.Message}");
        }
    }

    /// <summary>Looks up a batch: <paramref name="results"/>[i] answers <paramref name="keys"/>[i]
    /// (<see cref="LayeredLookup"/>, with this package as the only layer).</summary>
    public void Lookup(ReadOnlySpan<ulong> keys, Span<ValueRef> results) => LayeredLookup.Lookup(_alone, [], keys, results);

    /// <summary>This package's index and records as a layer of a lookup.</summary>
    internal LayerTable Table => _alone[0];

    /// <summary>One key, no batching (tools and tests).</summary>
    public ValueRef Find(ulong key) => _alone[0].FindSlow(key, KeyHash.Mix(key));

    protected override void OnDrained()
    {
        _index.Dispose();
        _values.Dispose();
        Disk?.Dispose();
    }

    /// <summary>Raw values have no length in the manifest: the longest of the first records (a
    /// few pages of the file, read once at open) sizes a disk tier's cache rows, so a table of
    /// equal-length raw rows wastes no cache memory; longer rows are read from the device.</summary>
    private static int RawRowBytes(MappedFile values, string path)
    {
        var walker = new RecordWalker(values.Pointer, (ulong)values.Length, path);
        var longest = 8;
        try
        {
            for (var i = 0; i < 4096 && walker.Next(out _, out var value); i++)
            {
                longest = Math.Max(longest, value.Length);
            }
        }
        catch (InputFormatException)
        {
            // a damaged record: the audit names it; the cache keeps what was seen
        }

        return Math.Min(longest, 4096);
    }

    private static void CheckLength(string path, long expected)
    {
        long actual;
        try
        {
            actual = new FileInfo(path).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read: {e.Message}");
        }

        if (actual != expected)
        {
            throw new InputFormatException(path, $"offset {Math.Min(actual, expected)}", $"file is {actual} bytes; the manifest says {expected} (incomplete copy?)");
        }
    }

    private static void Verify(MappedFile file, FileDigest expected)
    {
        var actual = file.ComputeXxHash128();
        if (actual != expected.Xxh128)
        {
            throw new InputFormatException(file.Path, "whole file", $"checksum mismatch: XxHash128 is {actual}, the manifest says {expected.Xxh128}; the package is corrupt and will not be loaded");
        }
    }

    private static ulong CheckHeaders(MappedFile index, MappedFile values, ShardManifest manifest)
    {
        var ih = index.Span(0, ShardLayout.HeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(ih) != ShardLayout.IndexMagic ||
            BinaryPrimitives.ReadUInt16LittleEndian(ih[4..]) != ShardLayout.FormatVersion ||
            BinaryPrimitives.ReadUInt16LittleEndian(ih[6..]) != ShardLayout.SlotSize)
        {
            throw new InputFormatException(index.Path, "offset 0", "not a version-1 index (bad magic, version or slot size)");
        }

        var buckets = BinaryPrimitives.ReadUInt64LittleEndian(ih[8..]);
        var keys = BinaryPrimitives.ReadInt64LittleEndian(ih[16..]);
        if (buckets == 0 || (ulong)ShardLayout.HeaderSize + buckets * ShardLayout.BucketSize != (ulong)index.Length)
        {
            throw new InputFormatException(index.Path, "offset 8", $"bucket count {buckets} does not match the file length {index.Length}");
        }

        if (keys != manifest.Keys || BinaryPrimitives.ReadInt64LittleEndian(ih[24..]) != values.Length)
        {
            throw new InputFormatException(index.Path, "offset 16", "key count or values length disagrees with the manifest");
        }

        var vh = values.Span(0, ShardLayout.HeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(vh) != ShardLayout.ValuesMagic ||
            BinaryPrimitives.ReadUInt16LittleEndian(vh[4..]) != ShardLayout.FormatVersion)
        {
            throw new InputFormatException(values.Path, "offset 0", "not a version-1 values file (bad magic or version)");
        }

        if (!ValueCodecs.TryParse(manifest.Codec, out var codec) || BinaryPrimitives.ReadUInt16LittleEndian(vh[6..]) != (ushort)codec)
        {
            throw new InputFormatException(values.Path, "offset 6", $"value codec disagrees with the manifest's '{manifest.Codec}'");
        }

        return buckets;
    }
}
