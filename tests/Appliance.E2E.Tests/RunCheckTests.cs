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

    [Fact]
    public void AllRolesCheckNamesEveryPartAndCreatesNothing()
    {
        var model = table.Directory.Combine("all-model");
        Core.Engine.ModelPackage.Write(model, Core.Engine.DenseNetwork.Random(seed: 3), new Core.Engine.ModelSpec { Dict = "emb", ValueCodec = "f16" }, "7");
        var work = table.Directory.Combine("all-work");
        var r = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "all", "--model", model, "--donefile", "donefile", "--work-dir", work, "--grpc-port", "8011").Ok();
        Assert.Contains("grpc-port      8011 (Open Inference Protocol over gRPC, grpc.health.v1; messages up to 8 MiB, 100 calls per connection)", r.Stdout);
        Assert.Contains("roles          all (transfer, server + agent for shard 0 of 1, engine)", r.Stdout);
        Assert.Contains("(dict emb, hash paddle, value codec f16)", r.Stdout);
        Assert.Contains("configuration is valid", r.Stdout);
        Assert.False(Directory.Exists(work));

        var bad = CubeProcess.Run(table.Directory.Path, "run", "--check", "--roles", "all", "--model", table.Directory.Combine("no-model"), "--donefile", "donefile", "--work-dir", work);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("model.json", bad.Stderr);
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
    [InlineData("--roles=server,engine", "the engine runs in a process of its own (--roles engine) or with every role (--roles all)")]
    [InlineData("--roles=all,server", "--roles all already includes every role; give it alone")]
    [InlineData("--roles=all", "--model")]
    [InlineData("--bind=somewhere", "option --bind: 'somewhere' is not an IP address")]
    [InlineData("--grpc-port=8011", "--grpc-port: only the engine answers gRPC (--roles engine, or --roles all)")]
    public void InvalidSettingsExitTwo(string flag, string expected)
    {
        var args = new List<string> { "run", "--check", "--roles", "server", "--data-dir", "packages", "--dict", "emb", flag };
        var r = CubeProcess.Run(table.Directory.Path, [.. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }
}
