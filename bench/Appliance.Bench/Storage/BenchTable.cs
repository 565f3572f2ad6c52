using Appliance.Core.Storage;

namespace Appliance.Bench.Storage;

/// <summary>A random table of 40-byte values built into a one-shard package in a temp directory,
/// plus the same data in a Dictionary&lt;ulong, byte[]&gt; (the baseline).</summary>
internal sealed class BenchTable : IDisposable
{
    public const int ValueSize = 40;

    private BenchTable(string directory, ulong[] keys, Dictionary<ulong, byte[]>? reference, ShardStore store)
    {
        Directory = directory;
        Keys = keys;
        Reference = reference;
        Store = store;
    }

    public string Directory { get; }

    public ulong[] Keys { get; }

    public Dictionary<ulong, byte[]>? Reference { get; }

    public ShardStore Store { get; }

    /// <summary>A table of <paramref name="count"/> rows with random 63-bit keys, or with
    /// <paramref name="denseKeys"/> the keys 0 … count-1 (bench/server-vs-redis.sh's table, whose
    /// keys redis-benchmark writes as 12-digit decimal text).</summary>
    public static BenchTable Create(int count, int seed, bool withDictionary, bool denseKeys = false)
    {
        var random = new Random(seed);
        var keys = new ulong[count];
        var buffer = new EntryBuffer();
        var reference = withDictionary ? new Dictionary<ulong, byte[]>(count) : null;
        var value = new byte[ValueSize];
        for (var i = 0; i < count; i++)
        {
            keys[i] = denseKeys ? (ulong)i : (ulong)random.NextInt64();
            random.NextBytes(value);
            value[0] = (byte)keys[i];
            buffer.Add(keys[i], value);
            reference?.TryAdd(keys[i], (byte[])value.Clone());
        }

        var directory = Path.Combine(Path.GetTempPath(), $"cube-bench-{count}-{Environment.ProcessId}");
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, true);
        }

        var shard = Path.Combine(directory, "t_part0");
        var (index, values, distinct) = ShardWriter.Write(shard, [buffer], ValueCodec.Raw, 0);
        var manifest = new ShardManifest
        {
            Dict = "t",
            Shard = 0,
            ShardCount = 1,
            Version = "1",
            Base = "1",
            Mode = VersionMode.Base,
            Codec = "raw",
            Dimension = 0,
            Keys = distinct,
            Index = index,
            Values = values,
        };
        File.WriteAllBytes(Path.Combine(shard, ShardLayout.ManifestFileName), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(manifest, Core.Storage.StorageJsonContext.Default.ShardManifest));
        var store = new ShardStore(inMemory: true);
        store.LoadBase(shard);
        return new BenchTable(directory, keys, reference, store);
    }

    /// <summary><paramref name="count"/> keys drawn at random from the table.</summary>
    public ulong[] SampleKeys(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Keys[random.Next(Keys.Length)]).ToArray();
    }

    public void Dispose()
    {
        Store.Dispose();
        System.IO.Directory.Delete(Directory, true);
    }
}
