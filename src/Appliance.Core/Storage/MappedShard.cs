using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
public sealed unsafe partial class MappedShard : RefCounted
{
    private const ulong Miss = ulong.MaxValue;
    private const ulong Slow = ulong.MaxValue - 1;
    private const int Chunk = 64;

    /// <summary>Buckets after a key's home probed in prefetched rounds before FindSlow walks on.</summary>
    private const int OverflowRounds = 4;

    /// <summary>Faults per chunk (the lookup thread's average over sampled chunks, faults inside the
    /// lookup only: <see cref="ThreadFaults"/>) from which a chunk's pages are read ahead. Reading ahead costs
    /// two madvise calls per key, ~2 µs each with most pages resident (bench/larger-than-memory.sh:
    /// server CPU per request 262 → 695 µs at 90 % of the package in memory, where 1.4 faults per
    /// chunk are waited for one by one); at 50 % (7 faults per chunk) it doubled throughput.</summary>
    private const int ReadAheadFaultsPerChunk = 3;

    private readonly MappedFile _index;
    private readonly MappedFile _values;
    private readonly ulong* _slots;
    private readonly byte* _records;
    private readonly ulong _bucketCount;
    private readonly ulong _valuesLength;

    private MappedShard(string directory, ShardManifest manifest, MappedFile index, MappedFile values, ulong bucketCount)
    {
        Directory = directory;
        Manifest = manifest;
        _index = index;
        _values = values;
        _slots = (ulong*)(index.Pointer + ShardLayout.HeaderSize);
        _records = values.Pointer;
        _bucketCount = bucketCount;
        _valuesLength = (ulong)values.Length;
        Codec = ValueCodecs.TryParse(manifest.Codec, out var codec) ? codec : ValueCodec.Raw;
    }

    public string Directory { get; }

    public ShardManifest Manifest { get; }

    public ValueCodec Codec { get; }

    public long Keys => Manifest.Keys;

    public long MappedBytes => _index.Length + _values.Length;

    public long IndexBytes => _index.Length;

    /// <summary>Maps and verifies the package in <paramref name="directory"/>; throws
    /// <see cref="InputFormatException"/> naming the file at fault. The checksums are skipped only
    /// when <paramref name="trustStamp"/> and the <see cref="VerifiedStamp"/> proves the files are
    /// the ones hashed before (<c>cube package verify</c> passes false: it always hashes).</summary>
    public static MappedShard Open(string directory, bool inMemory, bool trustStamp = true)
    {
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
        var index = inMemory ? MappedFile.Copy(indexPath) : MappedFile.Open(indexPath, populate: true);
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

            return new MappedShard(directory, manifest, index, values, bucketCount);
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

    /// <summary>Looks up a batch: <paramref name="results"/>[i] answers <paramref name="keys"/>[i].
    /// Hashes a chunk of keys at once, prefetches every bucket, probes, prefetches every record,
    /// then confirms keys, so the cache misses of a chunk overlap instead of queueing.</summary>
    [SkipLocalsInit]
    public void Lookup(ReadOnlySpan<ulong> keys, Span<ValueRef> results)
    {
        if (results.Length < keys.Length)
        {
            throw new ArgumentException("results is shorter than keys", nameof(results));
        }

        Span<ulong> hashes = stackalloc ulong[Chunk];
        Span<ulong> where = stackalloc ulong[Chunk];
        Span<ulong> overflow = stackalloc ulong[Chunk];
        for (var start = 0; start < keys.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, keys.Length - start);
            var chunk = keys.Slice(start, n);
            KeyHash.MixBatch(chunk, hashes);
            var sample = ThreadFaults.Begin();
            var faulting = ThreadFaults.PerCall >= ReadAheadFaultsPerChunk;
            for (var i = 0; i < n; i++)
            {
                var bucket = KeyHash.Bucket(hashes[i], _bucketCount);
                where[i] = bucket;
                Prefetch(_slots + bucket * ShardLayout.SlotsPerBucket);
                if (faulting)
                {
                    ReadAhead(_slots + bucket * ShardLayout.SlotsPerBucket);
                }
            }

            for (var i = 0; i < n; i++)
            {
                var home = where[i];
                where[i] = Probe(_slots + (home * ShardLayout.SlotsPerBucket), KeyHash.Fingerprint(hashes[i]));
                if (where[i] == Slow)
                {
                    // Home bucket full and no fingerprint match: the key, if present, overflowed
                    // into the next bucket (about 6% of keys at load factor 0.75). Start that miss
                    // now and probe it in the next pass instead of walking it unprefetched.
                    overflow[i] = NextBucket(home);
                    Prefetch(_slots + (overflow[i] * ShardLayout.SlotsPerBucket));
                }
            }

            // Overflow buckets, one round each, the next bucket of a key still unresolved started in
            // the round before. Keys past the home bucket's neighbour are 1.9 % at load factor 0.75
            // (bench lookup --data, all keys present); walked one by one in FindSlow, each took an
            // unhidden cache miss: 6 % of a server's CPU (perf). Past OverflowRounds, FindSlow
            // walks on from the home bucket.
            var unresolved = true;
            for (var round = 0; round < OverflowRounds && unresolved; round++)
            {
                unresolved = false;
                for (var i = 0; i < n; i++)
                {
                    if (where[i] == Slow)
                    {
                        where[i] = Probe(_slots + (overflow[i] * ShardLayout.SlotsPerBucket), KeyHash.Fingerprint(hashes[i]));
                        if (where[i] == Slow)
                        {
                            overflow[i] = NextBucket(overflow[i]);
                            Prefetch(_slots + (overflow[i] * ShardLayout.SlotsPerBucket));
                            unresolved = true;
                        }
                    }
                }
            }

            if (faulting)
            {
                for (var i = 0; i < n; i++)
                {
                    if (where[i] < Slow)
                    {
                        ReadAhead(_records + where[i]);
                    }
                }
            }

            for (var i = 0; i < n; i++)
            {
                var offset = where[i];
                results[start + i] = offset switch
                {
                    Miss => ValueRef.Missing,
                    Slow => FindSlow(chunk[i], hashes[i]),
                    _ => TryRecord(offset, chunk[i], out var value) ? value : FindSlow(chunk[i], hashes[i]),
                };
            }

            ThreadFaults.End(sample);
        }
    }

    /// <summary>Probes one bucket: the record offset of the first fingerprint match (its record
    /// prefetched), <see cref="Miss"/> if the bucket has an empty slot (the key is absent), else
    /// <see cref="Slow"/> (full bucket, no match: look further).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Probe(ulong* bucket, uint fingerprint)
    {
        var match = MatchBucket(bucket, fingerprint, out var empty);
        if (match == 0)
        {
            return empty != 0 ? Miss : Slow;
        }

        var offset = ShardLayout.SlotRecordOffset(bucket[BitOperations.TrailingZeroCount(match)]);

        // A record (key, length, value) often straddles two cache lines: fetch both, or copying
        // the value out takes the second miss unhidden.
        Prefetch(_records + offset);
        Prefetch(_records + offset + 64);
        return offset;
    }

    /// <summary>The bucket a full one overflows into (the last wraps to the first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong NextBucket(ulong bucket) => bucket + 1 == _bucketCount ? 0 : bucket + 1;

    /// <summary>One key, no batching (tools and tests).</summary>
    public ValueRef Find(ulong key) => FindSlow(key, KeyHash.Mix(key));

    protected override void OnDrained()
    {
        _index.Dispose();
        _values.Dispose();
    }

    private ValueRef FindSlow(ulong key, ulong hash)
    {
        var fingerprint = KeyHash.Fingerprint(hash);
        var bucket = KeyHash.Bucket(hash, _bucketCount);
        for (ulong probed = 0; probed < _bucketCount; probed++)
        {
            var p = _slots + bucket * ShardLayout.SlotsPerBucket;
            for (var s = 0; s < ShardLayout.SlotsPerBucket; s++)
            {
                var slot = p[s];
                if (slot == 0)
                {
                    return ValueRef.Missing;
                }

                if (ShardLayout.SlotFingerprint(slot) == fingerprint && TryRecord(ShardLayout.SlotRecordOffset(slot), key, out var value))
                {
                    return value;
                }
            }

            bucket = NextBucket(bucket);
        }

        return ValueRef.Missing;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryRecord(ulong offset, ulong key, out ValueRef value)
    {
        value = default;
        if (offset + ShardLayout.RecordHeaderSize > _valuesLength)
        {
            return false;
        }

        var record = _records + offset;
        if (BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(record, 8)) != key)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(record + 8, 4));
        if (offset + ShardLayout.RecordHeaderSize + length > _valuesLength)
        {
            return false;
        }

        value = new ValueRef(record + ShardLayout.RecordHeaderSize, (int)length);
        return true;
    }

    /// <summary>Bit s set in the result: slot s holds <paramref name="fingerprint"/>. Bit s set in
    /// <paramref name="empty"/>: slot s is empty. Two 256-bit compares cover the 8-slot bucket.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint MatchBucket(ulong* bucket, uint fingerprint, out uint empty)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var low = Vector256.Load(bucket);
            var high = Vector256.Load(bucket + 4);
            var tag = Vector256.Create((ulong)fingerprint);
            var match = Vector256.Equals(Vector256.ShiftRightLogical(low, 40), tag).ExtractMostSignificantBits()
                | (Vector256.Equals(Vector256.ShiftRightLogical(high, 40), tag).ExtractMostSignificantBits() << 4);
            empty = Vector256.Equals(low, Vector256<ulong>.Zero).ExtractMostSignificantBits()
                | (Vector256.Equals(high, Vector256<ulong>.Zero).ExtractMostSignificantBits() << 4);
            return match;
        }

        uint m = 0;
        empty = 0;
        for (var s = 0; s < ShardLayout.SlotsPerBucket; s++)
        {
            var slot = bucket[s];
            m |= ShardLayout.SlotFingerprint(slot) == fingerprint ? 1u << s : 0;
            empty |= slot == 0 ? 1u << s : 0;
        }

        return m;
    }

    /// <summary>
    /// Starts reading the page at <paramref name="address"/> if it is not in memory, without
    /// waiting (MADV_WILLNEED on a file mapping queues the read and returns). Used only while this
    /// thread is taking page faults (a table larger than the memory it may use): a request's
    /// misses then go to the disk together, instead of one synchronous fault after another.
    /// Measured with bench/larger-than-memory.sh (50M keys, Zipf 0.99): at 50 % of the package in
    /// memory, 56k → 100k keys/s and p99 69 → 37 ms.
    /// </summary>
    private static void ReadAhead(void* address)
    {
        const long Page = 4096;
        _ = LibC.madvise((nint)((long)address & ~(Page - 1)), (nuint)Page, LibC.MadvWillNeed);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(void* address)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(address);
        }
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
