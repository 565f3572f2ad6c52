using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>
/// The builder: input files → one version directory holding a package per shard
/// (shard = key % shard count, as the original builder and client compute it).
/// <list type="number">
/// <item>Input files are parsed in parallel; each file's records are split by shard, values
/// encoded with the codec on the way in.</item>
/// <item>Shards are written in parallel (<see cref="ShardWriter"/>); within a shard records keep
/// input order (files in ordinal path order), so the last occurrence of a key wins, deterministically.</item>
/// <item>Everything is written under <c>.tmp-…</c> and renamed to <c>&lt;base&gt;_&lt;version&gt;</c> only when
/// complete; on any failure the temporary directory is removed.</item>
/// </list>
/// Input larger than the memory budget is built in several passes, each keeping one group of shards.
/// </summary>
internal static class TableBuilder
{
    /// <summary>Memory a build holds per byte of input. Per record it keeps the key (8 bytes), the
    /// value with a 4-byte length (EntryBuffer), the record's slot number (4) and ~11 bytes of index:
    /// value + 27 bytes, against value + ~24 of a SequenceFile record (text input is larger than
    /// that). Measured: 100M keys of 40 bytes, 5.65 GB of input, peak RSS 6.58 GB (1.16).</summary>
    private const double MemoryPerInputByte = 1.25;

    public static BuildResult Build(BuildOptions options, Action<string>? log = null, BuildProgress? progress = null)
    {
        var stopwatch = Stopwatch.StartNew();
        log ??= _ => { };
        progress ??= new BuildProgress();
        // Hundreds of MB of fresh buffers: with huge pages they are faulted 2 MiB at a time, not
        // 4 KiB (Native/GcHugePages; a 20M-50M key build went 2-2.6x faster).
        Native.GcHugePages.Advise();
        Validate(options);
        var patches = ResolveLineage(options);
        var finalDirectory = Path.Combine(options.OutputPath, VersionInfo.DirectoryName(options.BaseId, options.Version));
        if (Directory.Exists(finalDirectory))
        {
            throw new InvalidOperationException($"{finalDirectory} already exists: version {options.Version} of base {options.BaseId} was built before; pick a new --version or remove it");
        }

        var files = InputFiles.List(options.InputPath);
        var inputBytes = files.Sum(f => new FileInfo(f).Length);
        var budget = options.MemoryBudget > 0 ? options.MemoryBudget : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 2 / 3;
        var passes = (int)Math.Clamp((long)Math.Ceiling(inputBytes * MemoryPerInputByte / budget), 1, options.Shards);
        (progress.BytesTotal, progress.FilesTotal, progress.ShardsTotal) = (inputBytes * passes, files.Count * passes, options.Shards);
        log($"build {options.Mode.Name()} {options.Dict} version {options.Version} (base {options.BaseId}): {files.Count} input file(s), {inputBytes} bytes, {options.Shards} shard(s), {passes} pass(es), codec {ValueCodecs.Name(options.Codec)}");

        Directory.CreateDirectory(options.OutputPath);
        var temporary = Path.Combine(options.OutputPath, $".tmp-{Path.GetFileName(finalDirectory)}-{Environment.ProcessId}");
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        try
        {
            long keys = 0;
            long records = 0;
            var dimension = -1;
            var created = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            for (var pass = 0; pass < passes; pass++)
            {
                if (pass > 0)
                {
                    // The previous pass's buffers (most of the memory budget) are garbage now; give
                    // them back before this pass allocates as much again. Left to the GC, a 200M-key
                    // build held both passes' memory (18.5 GB of 23) and pass 2 crawled under the
                    // kernel's memory pressure.
                    GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                }

                var shardsInPass = Enumerable.Range(0, options.Shards).Where(s => s % passes == pass).ToArray();
                progress.Pass = passes > 1 ? $"pass {pass + 1}/{passes}" : string.Empty;
                var parsing = Stopwatch.GetTimestamp();
                var parsed = ParseAll(files, options, passes, pass, shardsInPass.Length, progress);
                var parseSeconds = Stopwatch.GetElapsedTime(parsing).TotalSeconds;
                var writing = Stopwatch.GetTimestamp();
                if (pass == 0)
                {
                    records = parsed.Sum(p => p.Records); // every pass reads every record: count them once
                }
                dimension = AgreeOnDimension(parsed, dimension, options.Codec);
                var manifests = new ShardManifest[shardsInPass.Length];
                BuildThreads.For(shardsInPass.Length, options.Threads, local =>
                {
                    var shard = shardsInPass[local];
                    var buffers = parsed.Select(p => p.Shards[local]).ToList();
                    var shardDirectory = Path.Combine(temporary, VersionInfo.ShardDirectoryName(options.Dict, shard));
                    var (index, values, distinct) = ShardWriter.Write(shardDirectory, buffers, options.Codec, Math.Max(0, dimension));
                    var manifest = new ShardManifest
                    {
                        Dict = options.Dict,
                        Shard = shard,
                        ShardCount = options.Shards,
                        Version = options.Version,
                        Base = options.BaseId,
                        Mode = options.Mode,
                        Patches = patches,
                        Codec = ValueCodecs.Name(options.Codec),
                        Dimension = Math.Max(0, dimension),
                        Keys = distinct,
                        Index = index,
                        Values = values,
                        Created = created,
                    };
                    WriteDurably(Path.Combine(shardDirectory, ShardLayout.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, StorageJsonContext.Default.ShardManifest));
                    manifests[local] = manifest;
                    progress.ShardDone();
                });
                keys += manifests.Sum(m => m.Keys);
                log(FormattableString.Invariant($"pass {pass + 1}/{passes}: {parsed.Sum(p => p.Records)} records → {manifests.Sum(m => m.Keys)} keys in {shardsInPass.Length} shard(s) (parse {parseSeconds:F2} s, write {Stopwatch.GetElapsedTime(writing).TotalSeconds:F2} s)"));
            }

            var info = new VersionInfo
            {
                Dict = options.Dict,
                Version = options.Version,
                Base = options.BaseId,
                Mode = options.Mode,
                Patches = patches,
                ShardCount = options.Shards,
                Codec = ValueCodecs.Name(options.Codec),
                Dimension = Math.Max(0, dimension),
                Keys = keys,
                InputRecords = records,
                Input = Path.GetFullPath(options.InputPath),
                Created = created,
            };
            WriteDurably(Path.Combine(temporary, VersionInfo.FileName), JsonSerializer.SerializeToUtf8Bytes(info, StorageJsonContext.Default.VersionInfo));
            Directory.Move(temporary, finalDirectory);
            log($"built {finalDirectory}: {keys} keys from {records} records in {stopwatch.Elapsed.TotalSeconds:F2} s");
            return new BuildResult(finalDirectory, info, files, inputBytes, passes, stopwatch.Elapsed);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void Validate(BuildOptions o)
    {
        if (!IsValidDictName(o.Dict))
        {
            throw new ArgumentException($"--dict '{o.Dict}': a dict name is 1-128 characters of letters, digits, '_', '-', '.', starting with a letter or digit");
        }

        if (o.Shards is < 1 or > 65536)
        {
            throw new ArgumentException($"--shards {o.Shards}: must be between 1 and 65536");
        }

        if (!VersionId.IsValid(o.Version))
        {
            throw new ArgumentException($"--version '{o.Version}': a version id is 1-19 digits");
        }

        if (o.IsDelta && !VersionId.IsValid(o.Base))
        {
            throw new ArgumentException($"--base '{o.Base}': a delta needs the id of its base (1-19 digits)");
        }

        if (o.IsDelta && VersionId.Compare(o.Version, o.Base!) <= 0)
        {
            throw new ArgumentException($"--version {o.Version} must be newer than its base {o.Base}");
        }

        if (o.InputFormat is not ("seqfile" or "text"))
        {
            throw new ArgumentException($"--input-format '{o.InputFormat}': must be seqfile or text");
        }
    }

    public static bool IsValidDictName(string name) =>
        name.Length is > 0 and <= 128 && char.IsAsciiLetterOrDigit(name[0]) &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>For a delta: checks the base exists with the same shard count and returns the
    /// patches built on it before this one.</summary>
    private static IReadOnlyList<string> ResolveLineage(BuildOptions o)
    {
        if (!o.IsDelta)
        {
            return [];
        }

        var all = PackageCatalog.Scan(o.OutputPath, o.Dict);
        var baseVersion = all.FirstOrDefault(v => v.Info.Mode == VersionMode.Base && v.Info.Version == o.Base)
            ?? throw new InvalidOperationException($"base {o.Base} of dict {o.Dict} is not in {o.OutputPath}: build the base first");
        if (baseVersion.Info.ShardCount != o.Shards)
        {
            throw new InvalidOperationException($"base {o.Base} has {baseVersion.Info.ShardCount} shards; this delta asks for {o.Shards}");
        }

        if (baseVersion.Info.Codec != ValueCodecs.Name(o.Codec))
        {
            // A view stacks a delta on its base: rows of one codec decoded with another's would be garbage.
            throw new InvalidOperationException($"base {o.Base} was built with value codec {baseVersion.Info.Codec}; this delta asks for {ValueCodecs.Name(o.Codec)} (give --value-codec {baseVersion.Info.Codec})");
        }

        var patches = all.Where(v => v.Info.Mode == VersionMode.Delta && v.Info.Base == o.Base).Select(v => v.Info.Version).ToList();
        if (patches.Count > 0 && VersionId.Compare(patches[^1], o.Version) >= 0)
        {
            throw new InvalidOperationException($"delta {o.Version} is not newer than delta {patches[^1]} already built on base {o.Base}");
        }

        return patches;
    }

    private sealed class ParsedFile(int shards)
    {
        public EntryBuffer[] Shards { get; } = Enumerable.Range(0, shards).Select(_ => new EntryBuffer()).ToArray();

        public long Records { get; set; }

        public int Dimension { get; set; } = -1;

        public string Path { get; set; } = string.Empty;
    }

    private static ParsedFile[] ParseAll(IReadOnlyList<string> files, BuildOptions options, int passes, int pass, int shardsInPass, BuildProgress progress)
    {
        var parsed = new ParsedFile[files.Count];
        BuildThreads.For(files.Count, options.Threads, i => parsed[i] = ParseFile(files[i], options, passes, pass, shardsInPass, progress));
        return parsed;
    }

    private static ParsedFile ParseFile(string path, BuildOptions options, int passes, int pass, int shardsInPass, BuildProgress progress)
    {
        var result = new ParsedFile(shardsInPass) { Path = path };
        using ITableReader reader = options.InputFormat == "text" ? TextKvReader.Open(path) : SequenceFileReader.Open(path);
        var codec = options.Codec;
        while (reader.MoveNext())
        {
            if ((++result.Records & (BuildProgress.RecordStep - 1)) == 0)
            {
                progress.AddRecords(BuildProgress.RecordStep);
            }

            var shard = ShardRouting.ShardOf(reader.Key, options.Shards);
            if (shard % passes != pass)
            {
                continue;
            }

            var value = reader.Value;
            var buffer = result.Shards[shard / passes];
            if (codec == ValueCodec.Raw)
            {
                buffer.Add(reader.Key, value);
                continue;
            }

            if (value.Length % 4 != 0)
            {
                throw Bad(reader, $"value is {value.Length} bytes, not a float32 row (codec {ValueCodecs.Name(codec)} needs a multiple of 4)");
            }

            var dimension = value.Length / 4;
            if (result.Dimension < 0)
            {
                result.Dimension = dimension;
            }
            else if (dimension != result.Dimension)
            {
                throw Bad(reader, $"row has {dimension} floats; earlier rows have {result.Dimension}");
            }

            CheckRange(reader, value, codec);
            ValueCodecs.Encode(codec, value, buffer.Add(reader.Key, ValueCodecs.EncodedLength(codec, dimension)));
        }

        progress.AddRecords(result.Records & (BuildProgress.RecordStep - 1));
        progress.FileDone(new FileInfo(path).Length);
        return result;
    }

    private static void CheckRange(ITableReader reader, ReadOnlySpan<byte> row, ValueCodec codec)
    {
        if (codec == ValueCodec.F32)
        {
            return;
        }

        for (var i = 0; i < row.Length; i += 4)
        {
            var x = BinaryPrimitives.ReadSingleLittleEndian(row[i..]);
            if (!float.IsFinite(x) || (codec == ValueCodec.F16 && Math.Abs(x) > 65504f))
            {
                throw Bad(reader, $"float #{i / 4} = {x} cannot be stored as {ValueCodecs.Name(codec)}; use --value-codec f32");
            }
        }
    }

    private static InputFormatException Bad(ITableReader reader, string message) =>
        new(reader.Path, reader.Location, message);

    private static int AgreeOnDimension(ParsedFile[] parsed, int dimension, ValueCodec codec)
    {
        if (codec == ValueCodec.Raw)
        {
            return 0;
        }

        foreach (var file in parsed)
        {
            if (file.Dimension < 0)
            {
                continue;
            }

            if (dimension >= 0 && file.Dimension != dimension)
            {
                throw new InputFormatException(file.Path, "offset 0", $"rows have {file.Dimension} floats; other input files have {dimension}");
            }

            dimension = file.Dimension;
        }

        return dimension;
    }

    private static void WriteDurably(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the operator; '.tmp-' directories are never read as packages.
        }
    }
}
