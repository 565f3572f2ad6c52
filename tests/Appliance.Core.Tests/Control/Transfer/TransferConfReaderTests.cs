using Appliance.Core.Client;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;
using Appliance.Core.Net;

namespace Appliance.Core.Tests.Control.Transfer;

public sealed class TransferConfReaderTests
{
    private const string Original = """
        [default]
        dict_name: test_dict
        mode: base_delta
        download_mode: http
        wget_port: 8009
        buildtool_local: /home/work/cube-builder   # path of the builder
        donefile_address: http://127.0.0.1:8080/donefile
        output_address: /home/work/output
        tmp_address: /home/work/tmp
        shard_num: 2
        copy_num: 1
        deploy_path: /home/work/test_dict
        transfer_address: 127.0.0.1

        [cube_agent]
        agent0_0: 127.0.0.1:8001
        cube0_0: 127.0.0.1:8000:/home/work/cube0
        agent1_0: 127.0.0.2:8001 // second
        cube1_0: 127.0.0.2:8000:/home/work/cube1
        """;

    private static string Write(TempDirectory dir, string text)
    {
        var path = dir.Combine("transfer.conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void TheOriginalFileIsAcceptedAsItIs()
    {
        using var dir = new TempDirectory();
        var t = TransferConfReader.Read(Write(dir, Original));
        Assert.Equal(("test_dict", "base_delta", 2, 1), (t.DictName, t.Mode, t.ShardNum, t.CopyNum));
        Assert.Equal("http://127.0.0.1:8080/donefile", t.DonefileAddress);
        Assert.Equal([new NodeAddress("127.0.0.1", 8001)], t.Agents[0]);
        Assert.Equal([new NodeAddress("127.0.0.2", 8001)], t.Agents[1]);
        Assert.Equal(new NodeAddress("127.0.0.2", 8000), t.Cubes[1][0]);
        Assert.Equal("/home/work/cube-builder", t.Ignored["buildtool_local"]); // comment stripped
        Assert.Equal(("skip", 5), (t.DownPolicy, t.MaxAttempts));
    }

    [Fact]
    public void TheSameContentAsJsonIsAccepted()
    {
        using var dir = new TempDirectory();
        var t = TransferConfReader.Read(Write(dir, """
            {"default": {"dict_name": "d", "donefile_address": "done", "output_address": "out", "tmp_address": "tmp",
                         "shard_num": 1, "copy_num": 2, "down_policy": "wait", "token_file": "token"},
             "cube_agent": {"agent0_0": "h1:8001", "agent0_1": "h2:8001"}}
            """));
        Assert.Equal(Path.Combine(dir.Path, "done"), t.DonefileAddress); // relative to the config file
        Assert.Equal(Path.Combine(dir.Path, "token"), t.TokenFile);
        Assert.Equal("wait", t.DownPolicy);
        Assert.Equal(new NodeAddress("h2", 8001), t.Agents[0][1]);
    }

    /// <summary>The transfer.conf of the original deployment guide, with its
    /// storage_place line, is read as it is; keys we do not use are reported as ignored.</summary>
    [Fact]
    public void TheOriginalGuidesFileWithStoragePlaceIsAccepted()
    {
        using var dir = new TempDirectory();
        var t = TransferConfReader.Read(Write(dir, Original.Replace("mode: base_delta\n", "mode: base_delta\nstorage_place: LOCAL //LOCAL or HDFS\n", StringComparison.Ordinal)));
        Assert.Equal("LOCAL", t.Ignored["storage_place"]);
        Assert.Equal("test_dict", t.DictName);
    }

    [Theory]
    [InlineData("[default]\nflavour: x\n", "line 2: unknown key 'flavour' in [default]")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: http://[bad\noutput_address: b\ntmp_address: c\nshard_num: 1\ncopy_num: 1\n[cube_agent]\nagent0_0: h:1\n", "line 3: donefile_address 'http://[bad' is not an http(s) URL")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: a\noutput_address: b\ntmp_address: c\nshard_num: 1\ncopy_num: 1\n[cube_agent]\nagent0_0: a b/c:80\n", "line 9: agent0_0: 'a b/c:80' is not ip:port")]
    [InlineData("[default]\ndict_name x\n", "line 2: expected 'key: value'")]
    [InlineData("dict_name: x\n", "line 1: key outside a [section]")]
    [InlineData("[default\n", "line 1: section header '[default' lacks ']'")]
    [InlineData("[default]\ndict_name: d\nmode: delta_only\n", "line 3: mode 'delta_only' is not base_only or base_delta")]
    [InlineData("[default]\ndict_name: ../etc\n", "line 2: dict_name '../etc' is not a valid dict name")]
    [InlineData("[default]\ndict_name: d\nshard_num: two\n", "line 3: shard_num: 'two' is not an integer")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: a\noutput_address: b\ntmp_address: c\nshard_num: 2\ncopy_num: 1\n[cube_agent]\nagent0_0: h:1\n", "[cube_agent]: missing 'agent1_0' (shard_num 2 × copy_num 1)")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: a\noutput_address: b\ntmp_address: c\nshard_num: 1\ncopy_num: 1\n[cube_agent]\nagent0_0: h\n", "line 9: agent0_0: 'h' is not ip:port")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: a\noutput_address: b\ntmp_address: c\nshard_num: 1\ncopy_num: 1\n", "[cube_agent]: missing section")]
    [InlineData("[default]\ndict_name: d\ndonefile_address: a\noutput_address: b\ntmp_address: c\nshard_num: 1\ncopy_num: 1\nvalue_codec: f64\n[cube_agent]\nagent0_0: h:1\n", "line 8: value_codec 'f64' is not raw, f32, f16 or i8")]
    public void MistakesNameTheLineOrKey(string text, string expected)
    {
        using var dir = new TempDirectory();
        var path = Write(dir, text);
        var e = Assert.Throws<InputFormatException>(() => TransferConfReader.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
    }
}
