using Appliance.Core.Client;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Storage;

namespace Appliance.Core.Proxy;

/// <summary>The whole cluster as one reader: keys are fanned out over the native client (its
/// retries and backup requests); a key whose shard failed is a failed key — an error reply,
/// never a nil.</summary>
internal sealed class ClusterDictReader(CubeClient client, IReadOnlyList<DictConf> dicts, string defaultDict) : IDictReader
{
    private string _lastVersion = string.Empty;

    public bool AnswersAtOnce => false;

    public string DefaultDict => defaultDict;

    public bool Serves(string dict) => dicts.Any(d => d.DictName == dict);

    public async ValueTask<KeyRows> LookupAsync(string dict, ulong[] keys, int count)
    {
        var result = await client.LookupAsync(dict, keys.AsMemory(0, count)).ConfigureAwait(false);
        if (dict == defaultDict)
        {
            // One label when every shard serves the same version; all of them while one switches.
            _lastVersion = string.Join(",", result.ShardVersions.Where(v => !string.IsNullOrEmpty(v)).Distinct());
        }

        return new Rows(result, keys, client.Conf(dict).Shards);
    }

    /// <summary>The proxy holds no table: DBSIZE is unknown (null), the version is the one the
    /// default dict's shards last answered with.</summary>
    public DictReaderInfo Info() =>
        new("proxy", null, _lastVersion, string.Join(", ", dicts.Select(d => $"dict {d.DictName} ({d.Shards} shards)")));

    private sealed class Rows(LookupResult result, ulong[] keys, int shards) : KeyRows
    {
        public override int Count => result.Count;

        public override ValueCodec Codec => result.Codec;

        public override KeyStatus Status(int index) => result.Status[index];

        public override ReadOnlySpan<byte> Row(int index) => result.Value(index);

        public override string Error(int index)
        {
            var shard = ShardRouting.ShardOf(keys[index], shards);
            var why = result.Errors.FirstOrDefault(e => e.Shard == shard).Error ?? $"shard {shard}: no replica answered";
            return $"key {keys[index]}: {why}"; // the client's error names the shard and the replicas tried
        }

        public override void Dispose()
        {
            result.Dispose();
            base.Dispose();
        }
    }
}
