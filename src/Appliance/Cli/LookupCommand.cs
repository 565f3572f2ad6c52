using System.Globalization;
using System.Text;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube lookup --data DIR --dict NAME KEY...</c>: answers keys from a builder's output on disk
/// (the newest base plus its deltas), no server needed. One line per key:
/// <c>KEY&lt;TAB&gt;VALUE</c> or <c>KEY&lt;TAB&gt;MISSING</c>.
/// </summary>
internal static partial class LookupCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("data", "a builder's output directory (answer from packages on disk)", Meta: "DIR"),
        new("conf", "the client's cube.conf (answer from a live cluster)", Meta: "FILE"),
        new("dict", "dict name (with --conf: default is the first dict in the file)", Meta: "NAME"),
        new("protocol", "with --conf: native (the binary protocol, through the cluster client) or brpc (the original clients' baidu_std DictService.seek)", "native", Meta: "P"),
        new("version", "with --protocol brpc: ask each shard for its version (version_required) and print it to stderr", IsFlag: true),
        new("floats", "print values as floats (decoded with the package's codec) instead of hex", IsFlag: true),
        new("in_mem", "fault the whole package into memory first", "false", Meta: "BOOL"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage(
                "cube lookup (--data DIR | --conf cube.conf [--protocol brpc]) --dict NAME [--floats] KEY... (or - to read keys from stdin)",
                "Looks keys up in the newest complete base of DIR plus its deltas, or in a live cluster.\nPrints KEY<TAB>VALUE, KEY<TAB>MISSING, or (cluster) KEY<TAB>FAILED when the key's shard could not answer.",
                Options));
            return 0;
        }

        var keys = ReadKeys(a.Positionals);
        var protocol = a.Get("protocol") ?? "native";
        if (protocol is not ("native" or "brpc"))
        {
            throw new UsageException($"option --protocol: '{protocol}' is not native or brpc");
        }

        if (a.Get("conf") is { } conf)
        {
            return protocol == "brpc"
                ? FromClusterOverBrpc(conf, a.Get("dict"), a.Flag("floats"), a.Flag("version"), keys).GetAwaiter().GetResult()
                : FromCluster(conf, a.Get("dict"), a.Flag("floats"), keys).GetAwaiter().GetResult();
        }

        if (protocol != "native" || a.Flag("version"))
        {
            throw new UsageException("--protocol brpc and --version ask a live cluster: they need --conf");
        }

        var data = Path.GetFullPath(a.Require("data"));
        var dict = a.Require("dict");
        var serving = PackageCatalog.ResolveNewest(data, dict)
            ?? throw new UsageException($"--data {data}: no complete base of dict '{dict}' found");
        var floats = a.Flag("floats");
        var (shardKeys, positions) = ShardRouting.Split(keys.ToArray(), serving.Base.Info.ShardCount);
        var asked = Enumerable.Range(0, shardKeys.Length).Where(s => shardKeys[s].Length > 0);

        // Only the shards that got keys are opened (each open verifies its checksums).
        using var table = LocalTable.OpenNewest(data, dict, asked, a.Flag("in_mem"));
        var lines = new string[keys.Count];
        foreach (var shard in table.Shards)
        {
            var results = new ValueRef[shardKeys[shard].Length];
            using var lease = table.Store(shard).Acquire();
            lease.View!.Lookup(shardKeys[shard], results);
            for (var j = 0; j < results.Length; j++)
            {
                var text = results[j].Found ? ValueText.Format(results[j].Span, floats, lease.View.Codec) : "MISSING";
                lines[positions[shard][j]] = $"{shardKeys[shard][j].ToString(CultureInfo.InvariantCulture)}\t{text}";
            }
        }

        Print(lines);
        return 0;
    }

    private static async Task<int> FromCluster(string confPath, string? dict, bool floats, List<ulong> keys)
    {
        var dicts = Core.Client.CubeConfReader.Read(confPath);
        dict ??= dicts[0].DictName;
        await using var client = new Core.Client.CubeClient(dicts, connectionsPerReplica: 1);
        using var result = await client.LookupAsync(dict, keys.ToArray()).ConfigureAwait(false);
        var lines = new string[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            var text = result.Status[i] switch
            {
                Core.Protocol.KeyStatus.Found => ValueText.Format(result.Value(i), floats, result.Codec),
                Core.Protocol.KeyStatus.Missing => "MISSING",
                _ => "FAILED",
            };
            lines[i] = $"{keys[i].ToString(CultureInfo.InvariantCulture)}\t{text}";
        }

        Print(lines);
        foreach (var (shard, error) in result.Errors)
        {
            Console.Error.WriteLine($"cube lookup: shard {shard} failed: {error}");
        }

        return result.FailedKeys == 0 ? 0 : 1;
    }

    internal static void Print(string[] lines)
    {
        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }
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
