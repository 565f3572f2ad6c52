using System.Globalization;
using Appliance.Core.Brpc;
using Appliance.Core.Client;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube lookup --conf cube.conf --protocol brpc</c>: the same cluster asked through the original
/// clients' protocol, DictService.seek over baidu_std, as the C++ cube-api does it — the keys split
/// by <c>key % shard</c>, one seek per shard, the answers merged back into the keys' order. Each
/// shard's replicas are tried in the file's order until one answers (a refusal such as "not ready"
/// sends the request on too); a shard none answers fails its keys (FAILED, exit 1).
/// </summary>
internal static partial class LookupCommand
{
    private static async Task<int> FromClusterOverBrpc(string confPath, string? dictName, bool floats, bool version, List<ulong> keys)
    {
        var dicts = CubeConfReader.Read(confPath);
        var dict = dictName is null ? dicts[0] : dicts.FirstOrDefault(d => d.DictName == dictName)
            ?? throw new UsageException($"--dict {dictName}: not in {confPath} (it has {string.Join(", ", dicts.Select(d => d.DictName))})");
        var all = keys.ToArray();
        var split = ShardRouting.Split(all, dict.Shards);
        var lines = new string[all.Length];
        var failed = 0;
        for (var shard = 0; shard < dict.Shards; shard++)
        {
            var shardKeys = split.Keys[shard];
            if (shardKeys.Length == 0)
            {
                continue;
            }

            var (answer, error) = await SeekShard(dict, shard, shardKeys, version).ConfigureAwait(false);
            for (var j = 0; j < shardKeys.Length; j++)
            {
                var text = answer is null ? "FAILED"
                    : answer.Status[j] == 0 ? ValueText.Format(answer.Values[j], floats, ValueCodec.F32)
                    : "MISSING";
                lines[split.Positions[shard][j]] = $"{shardKeys[j].ToString(CultureInfo.InvariantCulture)}\t{text}";
            }

            if (answer is null)
            {
                failed += shardKeys.Length;
                Console.Error.WriteLine($"cube lookup: shard {shard} failed: {error}");
            }
            else if (version)
            {
                Console.Error.WriteLine($"cube lookup: shard {shard} version {answer.Version}");
            }
        }

        Print(lines);
        return failed == 0 ? 0 : 1;
    }

    private static async Task<(SeekAnswer? Answer, string Error)> SeekShard(DictConf dict, int shard, ulong[] keys, bool version)
    {
        var errors = new List<string>();
        foreach (var replica in dict.Replicas[shard])
        {
            try
            {
                using var client = await BaiduStdClient.ConnectAsync(replica.Host, replica.Port, TimeSpan.FromMilliseconds(Math.Max(dict.TimeoutMs, 100))).ConfigureAwait(false);
                return (client.Seek(keys, version), string.Empty);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or BrpcCallException or ProtoFormatException)
            {
                errors.Add($"{replica}: {e.Message}");
            }
        }

        return (null, string.Join("; ", errors));
    }
}
