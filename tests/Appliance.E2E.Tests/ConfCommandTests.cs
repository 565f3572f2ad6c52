using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>The client's cube.conf is written from the transfer.conf that already
/// holds the topology; the client's own reader takes it; a transfer.conf without server lines is
/// refused by name.</summary>
public sealed class ConfCommandTests
{
    [Fact]
    public void TheClientConfIsWrittenFromTheTransferConf()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("transfer.conf"), """
            [default]
            dict_name: emb
            mode: base_delta
            donefile_address: /tmp/done
            output_address: /tmp/out
            tmp_address: /tmp/tmp
            shard_num: 2
            copy_num: 2
            storage_place: LOCAL //x

            [cube_agent]
            agent0_0: 10.0.0.1:8001
            cube0_0: 10.0.0.1:8000:/data/c
            agent0_1: 10.0.0.2:8001
            cube0_1: 10.0.0.2:8000:/data/c
            agent1_0: 10.0.0.3:8001
            cube1_0: 10.0.0.3:8000:/data/c
            agent1_1: 10.0.0.4:8001
            cube1_1: 10.0.0.4:8000:/data/c
            """);
        var printed = CubeProcess.Run(dir.Path, "conf", "client", "--from", "transfer.conf", "--timeout", "300", "--backup-request", "50").Ok().Stdout;
        var dict = JsonDocument.Parse(printed).RootElement[0];
        Assert.Equal("emb", dict.GetProperty("dict_name").GetString());
        Assert.Equal(2, dict.GetProperty("shard").GetInt32());
        Assert.Equal(2, dict.GetProperty("dup").GetInt32());
        Assert.Equal(300, dict.GetProperty("timeout").GetInt32());
        Assert.Equal(50, dict.GetProperty("backup_request").GetInt32());
        Assert.Equal(["list://10.0.0.1:8000,10.0.0.2:8000", "list://10.0.0.3:8000,10.0.0.4:8000"], dict.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("ipport_list").GetString()));

        CubeProcess.Run(dir.Path, "conf", "client", "--from", "transfer.conf", "--timeout", "300", "--backup-request", "50", "--out", "cube.conf").Ok();
        Assert.Equal(printed, File.ReadAllText(dir.Combine("cube.conf")));
        // The engine's own check reads it as the client will.
        var lookup = CubeProcess.Run(dir.Path, "lookup", "--conf", "cube.conf", "--dict", "nope", "1");
        Assert.Contains("nope", lookup.Stderr, StringComparison.Ordinal);

        File.WriteAllText(dir.Combine("agents-only.conf"), File.ReadAllText(dir.Combine("transfer.conf")).Split('\n').Where(l => !l.TrimStart().StartsWith("cube", StringComparison.Ordinal)).Aggregate((x, y) => x + "\n" + y));
        var refused = CubeProcess.Run(dir.Path, "conf", "client", "--from", "agents-only.conf");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("no cube<shard>_<replica> lines", refused.Stderr, StringComparison.Ordinal);
    }
}
