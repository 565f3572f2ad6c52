namespace Appliance.E2E.Tests;

/// <summary><c>cube run --check</c>: like <c>nginx -t</c>.</summary>
public sealed class RunCheckTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    [Fact]
    public void AValidConfigurationPrintsTheEffectiveSettings()
    {
        var flags = table.Directory.Combine("gflags.conf");
        File.WriteAllText(flags, "--port=8123\n--dict_split=1\n--in_mem=false\n--log_dir=./log/\n");
        var r = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "server", "--flagfile", flags, "--data-dir", "packages", "--dict", "emb", "--shard", "1", "--in_mem", "true").Ok();
        Assert.Contains("port           8123", r.Stdout);
        Assert.Contains("in_mem         true", r.Stdout); // the command line wins over the flag file
        Assert.Contains("would serve    base 500 (2 shards)", r.Stdout);
        Assert.Contains("configuration is valid", r.Stdout);
    }

    [Theory]
    [InlineData("--unknown-flag=1\n", "gflags.conf: line 1: unknown flag --unknown-flag")]
    [InlineData("--port=http\n", "option --port: 'http' is not an integer")]
    public void ABadFlagFileIsNamed(string content, string expected)
    {
        var flags = table.Directory.Combine("gflags.conf");
        File.WriteAllText(flags, content);
        var r = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "server", "--flagfile", flags, "--data-dir", "packages", "--dict", "emb");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }

    [Theory]
    [InlineData("--data-dir=missing", "option --data-dir:")]
    [InlineData("--shard=5", "option --shard 5: version 500 has only 2 shard(s)")]
    [InlineData("--roles=server,engine", "run the engine in a process of its own in this build")]
    [InlineData("--roles=all", "--roles all (every role in one process) is not in this build yet")]
    [InlineData("--bind=somewhere", "option --bind: 'somewhere' is not an IP address")]
    public void InvalidSettingsExitTwo(string flag, string expected)
    {
        var args = new List<string> { "run", "--check", "--roles", "server", "--data-dir", "packages", "--dict", "emb", flag };
        var r = CubeProcess.Run(table.Directory.Path, [.. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }
}
