using Appliance.Core.Storage;

namespace Appliance.Bench.Storage;

/// <summary>
/// Bytes of index per key of a built package, beside what a Dictionary&lt;ulong, byte[]&gt; costs
/// per key for the same table (its own structure, and with the value arrays' object overhead).
/// <c>-- memory [--keys 1000000,20000000]</c>
/// </summary>
internal static class IndexMemory
{
    public static int Run(string[] args)
    {
        var i = Array.IndexOf(args, "--keys");
        var sizes = i >= 0 ? args[i + 1].Split(',').Select(int.Parse).ToArray() : [1_000_000, 20_000_000];
        Console.WriteLine($"{"keys",12} {"index B/key",12} {"values B/key",13} {"Dictionary B/key",17} {"Dict+arrays B/key",18}");
        foreach (var n in sizes)
        {
            double indexPerKey, valuesPerKey;
            using (var table = BenchTable.Create(n, seed: 1, withDictionary: false))
            {
                var shard = table.Store.Live!.Base;
                indexPerKey = (double)shard.IndexBytes / shard.Keys;
                valuesPerKey = (double)(shard.MappedBytes - shard.IndexBytes) / shard.Keys;
            }

            GC.Collect();
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var dict = new Dictionary<ulong, byte[]>();
            var random = new Random(1);
            for (var k = 0; k < n; k++)
            {
                dict[(ulong)random.NextInt64()] = new byte[BenchTable.ValueSize];
            }

            var after = GC.GetTotalMemory(forceFullCollection: true);
            var perKey = (double)(after - before) / dict.Count;
            const int ArrayBytes = 24 + BenchTable.ValueSize; // object header, method table, length
            GC.KeepAlive(dict);
            Console.WriteLine($"{n,12:N0} {indexPerKey,12:F2} {valuesPerKey,13:F2} {perKey - ArrayBytes,17:F2} {perKey,18:F2}");
        }

        return 0;
    }
}
