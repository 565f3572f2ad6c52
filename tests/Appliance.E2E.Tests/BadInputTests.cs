namespace Appliance.E2E.Tests;

/// <summary>
/// Every command, given a bad input, exits 1 (bad input or failed operation) or
/// 2 (a command line that cannot run) with a line naming the fault: never an unhandled exception
/// (exit 134), never a stack trace.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BadInputTests()
    {
        File.WriteAllText(_dir.Combine("cc.json"), """[{"dict_name": "emb", "shard": 1, "dup": 1, "timeout": 200, "retry": 0, "backup_request": 0, "type": "ipport_list", "nodes": [{"ipport_list": "list://127.0.0.1:1"}]}]""");
        File.WriteAllText(_dir.Combine("transfer.conf"), "[default]\ndict_name: emb\nmode: base_delta\nshard_num: 1\ncopy_num: 1\ndonefile_address: done\noutput_address: out\ntmp_address: tmp\n[cube_agent]\nagent0_0: 127.0.0.1:8001\n");
        File.WriteAllText(_dir.Combine("token"), "0123456789abcdef0123\n");
        File.WriteAllText(_dir.Combine("not-a-seqfile"), "hello\n");
        File.WriteAllText(_dir.Combine("no-keys.txt"), "\n");
        Directory.CreateDirectory(_dir.Combine("empty"));
        Core.Engine.ModelPackage.Write(_dir.Combine("model"), Core.Engine.DenseNetwork.Random(seed: 1, hidden: 4, hiddenLayers: 1), new Core.Engine.ModelSpec { Dict = "other" }, "1");
    }

    public static TheoryData<int, string[]> Cases => new()
    {
        { 1, ["predict", "--engine", "127.0.0.1:1", "--data", "{criteo}"] },
        { 2, ["predict", "--engine", "localhost", "--data", "{criteo}"] },
        { 2, ["predict", "--in-process", "--engine", "127.0.0.1:1", "--model-dir", "{dir}/model", "--data-dir", "{dir}/empty", "--data", "{criteo}"] },
        { 2, ["predict", "--model-dir", "{dir}/model", "--data", "{criteo}"] },
        { 1, ["predict", "--in-process", "--model-dir", "{dir}/model", "--data-dir", "{dir}/empty", "--data", "{criteo}"] },
        { 2, ["run", "--roles", "engine", "--bind", "junk", "--model", "{dir}/no-model", "--local", "--data-dir", "{dir}/empty"] },
        { 2, ["run", "--roles", "transfer", "--bind", "junk", "--config", "{dir}/transfer.conf", "--token-file", "{dir}/token"] },
        { 1, ["lookup", "--conf", "{dir}/cc.json", "--dict", "other", "1"] },
        { 2, ["lookup", "--data", "{dir}/empty", "--dict", "emb", "1"] },
        { 1, ["kv", "dump", "{dir}/not-a-seqfile"] },
        { 1, ["kv", "dump", "{dir}/missing"] },
        { 1, ["build", "--input", "{dir}/not-a-seqfile", "--output", "{dir}/out", "--dict", "emb", "--shards", "2"] },
        { 1, ["build", "--input", "{dir}/empty", "--output", "/proc/version/out", "--dict", "emb", "--shards", "2"] },
        { 1, ["features", "{dir}/missing"] },
        { 2, ["run", "--roles", "server", "--data-dir", "{dir}/empty", "--dict", "emb", "--port", "http"] },
        { 2, ["nonsense"] },
        { 2, ["bench", "lookup", "--conf", "{dir}/cc.json", "--keys", "{dir}/no-keys.txt", "--duration", "1"] }, // was IndexOutOfRangeException
        { 2, ["kv", "gen", "--keys", "10", "--out", "{dir}/g", "--format", "parquet"] },
        { 2, ["run", "--check", "--roles", "engine", "--model", "{dir}/model", "--conf", "{dir}/cc.json"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ABadInputIsOneLineAndExitOneOrTwo(int exit, string[] args)
    {
        var expanded = args.Select(a => a.Replace("{dir}", _dir.Path, StringComparison.Ordinal).Replace("{criteo}", TestData.CriteoSample, StringComparison.Ordinal)).ToArray();
        var r = CubeProcess.Run(_dir.Path, expanded);
        Assert.True(r.ExitCode == exit, $"exit {r.ExitCode} (expected {exit})\nstderr: {r.Stderr}");
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", r.Stderr, StringComparison.Ordinal);
        // Progress lines may come first (build logs what it starts); the fault is the last line.
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("cube ", args[0] == "nonsense" ? lines[0] : lines[^1], StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
