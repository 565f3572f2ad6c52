using System.Globalization;
using System.Text;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// The storage core end to end: 1M random keys with 40-byte values → text → SequenceFile → base,
/// then two deltas that overwrite and add keys; every key and 10k absent keys must answer exactly as
/// a Dictionary&lt;ulong, byte[]&gt; reference says, after each step.
/// </summary>
public sealed class RoundTripTests
{
    [Fact]
    public void MillionKeysBaseAndTwoDeltasMatchTheReference()
    {
        using var dir = new TempDirectory();
        var random = new Random(20261127);
        var reference = new Dictionary<ulong, byte[]>();
        var baseRows = RandomRows(random, 1_000_000, reference, existing: null, overwrite: 0);
        var baseInput = ConvertViaText(dir, "base", baseRows);
        TestTables.Build(baseInput, dir.Combine("out"), "100", shards: 3);
        var absent = AbsentKeys(random, reference, 10_000);
        Check(dir, reference, absent);

        var existing = reference.Keys.ToArray();
        var delta1 = RandomRows(random, 100_000, reference, existing, overwrite: 100_000);
        TestTables.Build(ConvertViaText(dir, "d1", delta1), dir.Combine("out"), "101", shards: 3, baseId: "100");
        Check(dir, reference, absent);

        existing = reference.Keys.ToArray();
        var delta2 = RandomRows(random, 50_000, reference, existing, overwrite: 50_000);
        TestTables.Build(ConvertViaText(dir, "d2", delta2), dir.Combine("out"), "102", shards: 3, baseId: "100");
        Check(dir, reference, absent);

        var info = PackageCatalog.ResolveNewest(dir.Combine("out"), "test")!.Value;
        Assert.Equal(["101", "102"], info.Deltas.Select(d => d.Info.Version));
        // A delta holds only its own keys: exactly the distinct keys of its input.
        Assert.Equal(delta1.Select(r => r.Item1).Distinct().Count(), info.Deltas[0].Info.Keys);
        Assert.Equal(delta2.Select(r => r.Item1).Distinct().Count(), info.Deltas[1].Info.Keys);
        Assert.Equal(["101"], info.Deltas[1].Info.Patches);
    }

    private static void Check(TempDirectory dir, Dictionary<ulong, byte[]> reference, IReadOnlyList<ulong> absent)
    {
        var stores = TestTables.OpenAll(dir.Combine("out"));
        try
        {
            TestTables.AssertMatches(stores, reference, absent);
        }
        finally
        {
            TestTables.DisposeAll(stores);
        }
    }

    /// <summary><paramref name="count"/> new keys plus <paramref name="overwrite"/> existing keys with
    /// new values; the reference is updated to what must be served afterwards.</summary>
    private static List<(ulong, byte[])> RandomRows(Random random, int count, Dictionary<ulong, byte[]> reference, ulong[]? existing, int overwrite)
    {
        var rows = new List<(ulong, byte[])>(count + overwrite);
        for (var i = 0; i < count; i++)
        {
            ulong key;
            do
            {
                key = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40);
            }
            while (reference.ContainsKey(key));
            rows.Add((key, RandomFloats(random)));
            reference[key] = rows[^1].Item2;
        }

        for (var i = 0; i < overwrite && existing is not null; i++)
        {
            var key = existing[random.Next(existing.Length)];
            rows.Add((key, RandomFloats(random)));
            reference[key] = rows[^1].Item2; // the last occurrence wins, also within one input
        }

        return rows;
    }

    private static byte[] RandomFloats(Random random)
    {
        var value = new byte[40];
        for (var d = 0; d < 10; d++)
        {
            BitConverter.TryWriteBytes(value.AsSpan(d * 4), (random.NextSingle() * 2) - 1);
        }

        return value;
    }

    private static string ConvertViaText(TempDirectory dir, string name, List<(ulong Key, byte[] Value)> rows)
    {
        var text = dir.Combine(name + ".txt");
        using (var writer = new StreamWriter(text, false, new UTF8Encoding(false), 1 << 16))
        {
            var line = new StringBuilder();
            foreach (var (key, value) in rows)
            {
                line.Clear().Append(key.ToString(CultureInfo.InvariantCulture)).Append('\t');
                for (var d = 0; d < 10; d++)
                {
                    line.Append(d == 0 ? string.Empty : " ").Append(BitConverter.ToSingle(value, d * 4).ToString(CultureInfo.InvariantCulture));
                }

                writer.WriteLine(line);
            }
        }

        var seq = dir.Combine("input", name);
        Directory.CreateDirectory(dir.Combine("input"));
        TextTableConverter.Convert(text, seq, parts: 4, seed: 7);
        return seq;
    }

    private static List<ulong> AbsentKeys(Random random, Dictionary<ulong, byte[]> reference, int count)
    {
        var absent = new List<ulong>(count);
        while (absent.Count < count)
        {
            var key = (ulong)random.NextInt64();
            if (!reference.ContainsKey(key))
            {
                absent.Add(key);
            }
        }

        return absent;
    }
}
