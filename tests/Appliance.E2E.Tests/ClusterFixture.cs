using System.Globalization;
using Appliance.Core.Client;
using Appliance.Core.Formats;

namespace Appliance.E2E.Tests;

/// <summary>One table of 200k keys (10 floats each) built into 2 shards by the real binary, plus
/// the reference dictionary read from the same text.</summary>
public sealed class ClusterFixture : IDisposable
{
    public const string Dict = "emb";

    public ClusterFixture()
    {
        Directory = new TempDirectory();
        CubeProcess.Run(Directory.Path, "kv", "gen", "--keys", "200000", "--dim", "10", "--seed", "11", "--out", "table.txt").Ok();
        CubeProcess.Run(Directory.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "packages", "--dict", Dict, "--shards", "2", "--version", "500").Ok();
        using var reader = TextKvReader.Open(Directory.Combine("table.txt"));
        while (reader.MoveNext())
        {
            Reference[reader.Key] = reader.Value.ToArray();
        }

        var random = new Random(3);
        while (Absent.Count < 10_000)
        {
            var key = (ulong)random.NextInt64();
            if (!Reference.ContainsKey(key))
            {
                Absent.Add(key);
            }
        }
    }

    public TempDirectory Directory { get; }

    public string Packages => Directory.Combine("packages");

    public Dictionary<ulong, byte[]> Reference { get; } = [];

    public List<ulong> Absent { get; } = [];

    /// <summary>A cube.conf in the original format for the given replicas of each shard.</summary>
    internal static IReadOnlyList<DictConf> Conf(IReadOnlyList<IReadOnlyList<ServerProcess>> shards, int timeoutMs = 1000, int retry = 2, int backupMs = 0, string dict = Dict)
    {
        var nodes = string.Join(", ", shards.Select(replicas =>
            $"{{\"ipport_list\": \"list://{string.Join(',', replicas.Select(r => $"127.0.0.1:{r.DataPort.ToString(CultureInfo.InvariantCulture)}"))}\"}}"));
        var json = $"[{{\"dict_name\": \"{dict}\", \"shard\": {shards.Count}, \"dup\": {shards[0].Count}, \"timeout\": {timeoutMs}, \"retry\": {retry}, \"backup_request\": {backupMs}, \"type\": \"ipport_list\", \"load_balancer\": \"rr\", \"nodes\": [{nodes}]}}]";
        return CubeConfReader.Parse(System.Text.Encoding.UTF8.GetBytes(json), "cube.conf");
    }

    public void Dispose() => Directory.Dispose();
}
