using System.Text;
using Appliance.Core.Client;
using Appliance.Core.Formats;
using Appliance.Core.Net;

namespace Appliance.Core.Tests.Formats;

public sealed class ConfigFileTests
{
    [Fact]
    public void ReadsTheOriginalDemoCubeConf()
    {
        // conf/cube.conf of the original CTR demo, replicas added to shard 1.
        const string text = """
            [{
              "dict_name": "dict",
              "shard": 2,
              "dup": 1,
              "timeout": 200,
              "retry": 3,
              "backup_request": 100,
              "type": "ipport_list",
              "load_balancer": "rr",
              "nodes": [{"ipport_list": "list://127.0.0.1:8000"}, {"ipport_list": "list://127.0.0.1:8001,127.0.0.2:8001"}]
            }]
            """;
        var conf = Assert.Single(CubeConfReader.Parse(Encoding.UTF8.GetBytes(text), "cube.conf"));
        Assert.Equal("dict", conf.DictName);
        Assert.Equal(2, conf.Shards);
        Assert.Equal((200, 3, 100, "rr"), (conf.TimeoutMs, conf.Retry, conf.BackupRequestMs, conf.LoadBalancer));
        Assert.Equal([new NodeAddress("127.0.0.1", 8000)], conf.Replicas[0]);
        Assert.Equal([new NodeAddress("127.0.0.1", 8001), new NodeAddress("127.0.0.2", 8001)], conf.Replicas[1]);
    }

    [Fact]
    public void ReadsIpportAndIpportParallel()
    {
        const string text = """
            [{"dict_name": "a", "shard": 2, "dup": 1, "timeout": 50, "retry": 0, "backup_request": -1, "type": "ipport",
              "nodes": [{"ip": "10.0.0.1", "port": 8000}, {"ip": "10.0.0.2", "port": 8000}]},
             {"dict_name": "b", "shard": 3, "dup": 1, "timeout": 50, "retry": 1, "backup_request": 0, "type": "ipport_parallel",
              "nodes": [{"ip": "10.0.0.9", "port": 9000}]}]
            """;
        var confs = CubeConfReader.Parse(Encoding.UTF8.GetBytes(text), "cube.conf");
        Assert.Equal(new NodeAddress("10.0.0.2", 8000), confs[0].Replicas[1][0]);
        Assert.Equal(0, confs[0].BackupRequestMs); // negative = off
        Assert.Equal(3, confs[1].Replicas.Count);
        Assert.All(confs[1].Replicas, r => Assert.Equal(new NodeAddress("10.0.0.9", 9000), r[0]));
    }

    [Theory]
    [InlineData("{", "cube.conf: line 1: not JSON")]
    [InlineData("[]", "cube.conf: $: no dict entries")]
    [InlineData("[{\"shard\": 1, \"nodes\": []}]", "cube.conf: [0].dict_name: missing")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": \"2\", \"nodes\": []}]", "cube.conf: [0].shard: must be an integer ≥ 1")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": 2, \"type\": \"ipport_list\", \"nodes\": [{\"ipport_list\": \"list://h:1\"}]}]", "cube.conf: [0].nodes: 1 node(s) for 2 shard(s)")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": 1, \"type\": \"ipport_list\", \"nodes\": [{\"ipport_list\": \"list://h\"}]}]", "cube.conf: [0].nodes[0].ipport_list: 'h' is not ip:port")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": 1, \"type\": \"weird\", \"nodes\": []}]", "cube.conf: [0].type: 'weird' is not ipport")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": 1, \"load_balancer\": \"x\", \"nodes\": []}]", "cube.conf: [0].load_balancer: 'x' is not one of")]
    [InlineData("[{\"dict_name\": \"d\", \"shard\": 1, \"type\": \"ipport\", \"nodes\": [{\"ip\": \"h\", \"port\": 70000}]}]", "cube.conf: [0].nodes[0].port: 70000 is not a port")]
    public void BadCubeConfNamesTheField(string text, string expected)
    {
        var e = Assert.Throws<InputFormatException>(() => CubeConfReader.Parse(Encoding.UTF8.GetBytes(text), "cube.conf"));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void ReadsTheOriginalGflagsConf()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("gflags.conf");
        File.WriteAllText(path, "# shipped conf\n--port=8000\n--dict_split=1\n\n--in_mem=true\n-log_dir=./log/\n--verbose\n");
        Assert.Equal(
            [("port", "8000", 2), ("dict_split", "1", 3), ("in_mem", "true", 5), ("log_dir", "./log/", 6), ("verbose", "true", 7)],
            GflagsFile.Read(path));
        File.WriteAllText(path, "--port=1\nport=2\n");
        var e = Assert.Throws<InputFormatException>(() => GflagsFile.Read(path));
        Assert.Equal($"{path}: line 2: expected --name=value, got 'port=2'", e.Message);
    }
}
