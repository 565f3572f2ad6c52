using System.Globalization;
using System.Text;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube lookup --data DIR --dict NAME KEY...</c>: answers keys from a builder's output on disk
/// (the newest base plus its deltas), no server needed. One line per key:
/// <c>KEY&lt;TAB&gt;VALUE</c> or <c>KEY&lt;TAB&gt;MISSING</c>.
/// </summary>
internal static class LookupCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("data", "a builder's output directory", Meta: "DIR"),
        new("dict", "dict name", Meta: "NAME"),
        new("floats", "print values as floats (decoded with the package's codec) instead of hex", IsFlag: true),
        new("in_mem", "fault the whole package into memory first", "false", Meta: "BOOL"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage(
                "cube lookup --data DIR --dict NAME [--floats] KEY... (or - to read keys from stdin)",
                "Looks keys up in the newest complete base of DIR plus its deltas. Prints KEY<TAB>VALUE or KEY<TAB>MISSING.",
                Options));
            return 0;
        }

        var data = Path.GetFullPath(a.Require("data"));
        var dict = a.Require("dict");
        var keys = ReadKeys(a.Positionals);
        var serving = PackageCatalog.ResolveNewest(data, dict)
            ?? throw new UsageException($"--data {data}: no complete base of dict '{dict}' found");
        var shardCount = serving.Base.Info.ShardCount;
        var floats = a.Flag("floats");
        var stores = new ShardStore?[shardCount];
        var byShard = new List<int>[shardCount];
        for (var i = 0; i < keys.Count; i++)
        {
            (byShard[(int)(keys[i] % (ulong)shardCount)] ??= []).Add(i);
        }

        var lines = new string[keys.Count];
        try
        {
            for (var shard = 0; shard < shardCount; shard++)
            {
                if (byShard[shard] is not { } positions)
                {
                    continue;
                }

                var store = stores[shard] = new ShardStore(a.Flag("in_mem"));
                store.LoadBase(serving.Base.ShardDirectory(shard), serving.Deltas.Select(d => d.ShardDirectory(shard)));
                var shardKeys = positions.Select(p => keys[p]).ToArray();
                var results = new ValueRef[shardKeys.Length];
                using var lease = store.Acquire();
                lease.View!.Lookup(shardKeys, results);
                for (var j = 0; j < positions.Count; j++)
                {
                    var text = results[j].Found ? ValueText.Format(results[j].Span, floats, lease.View.Codec) : "MISSING";
                    lines[positions[j]] = $"{shardKeys[j].ToString(CultureInfo.InvariantCulture)}\t{text}";
                }
            }
        }
        finally
        {
            foreach (var store in stores)
            {
                store?.Dispose();
            }
        }

        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        return 0;
    }

    private static List<ulong> ReadKeys(List<string> positionals)
    {
        var texts = positionals is ["-"] ? ReadStdin() : positionals;
        if (texts.Count == 0)
        {
            throw new UsageException("no keys given (KEY... or - for stdin)");
        }

        var keys = new List<ulong>(texts.Count);
        foreach (var t in texts)
        {
            if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var key))
            {
                throw new UsageException($"key '{t}' is not an unsigned 64-bit integer");
            }

            keys.Add(key);
        }

        return keys;
    }

    private static List<string> ReadStdin()
    {
        var list = new List<string>();
        while (Console.In.ReadLine() is { } line)
        {
            if (line.Trim() is { Length: > 0 } t)
            {
                list.Add(t);
            }
        }

        return list;
    }
}
