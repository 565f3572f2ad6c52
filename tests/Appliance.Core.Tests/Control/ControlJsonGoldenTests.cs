using System.Text.Json;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Control;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control;

/// <summary>
/// The control plane's JSON is a wire format: the original transfer's <c>/dict/info</c>,
/// <c>/instance/status</c> and <c>/dict/deploy/history</c> envelopes, the agent's commands and
/// replies, and the transfer's persisted state. Each document here is built from fixed values and
/// compared byte for byte with a checked-in file under <c>golden/</c>, so a refactoring of the types
/// behind them cannot change what clients (or a transfer restarted on a newer binary) read.
/// Set CUBE_UPDATE_GOLDEN=1 to rewrite the files after an intended change.
/// </summary>
public sealed class ControlJsonGoldenTests
{
    [Fact]
    public void DictInfoEnvelope() => Golden("dict-info.json", JsonSerializer.SerializeToUtf8Bytes(
        new Envelope<DictInfo>("0", "query ok", new DictInfo
        {
            DictName = "test_dict",
            DictMode = "base_delta",
            ShardNum = 2,
            CopyNum = 1,
            InstNum = 2,
            DonefileAddr = "/data/donefile",
            OutputAddr = "/data/output",
            TmpAddr = "/data/tmp",
            DownPolicy = "wait",
            Instances = ActiveInstances("1700000000", "1700000000", VersionMode.Base),
            WaitVersionInfo = Delta(),
            CurrentVersionInfo = [Base()],
        }),
        ControlJsonContext.Default.EnvelopeDictInfo));

    [Fact]
    public void InstanceStatusEnvelope() => Golden("instance-status.json", JsonSerializer.SerializeToUtf8Bytes(
        new Envelope<List<InstanceRecord>>("0", "query ok", Delta().Instances),
        ControlJsonContext.Default.EnvelopeListInstanceRecord));

    [Fact]
    public void DeployHistoryEnvelope() => Golden("deploy-history.json", JsonSerializer.SerializeToUtf8Bytes(
        new Envelope<List<VersionRecord>>("0", "query ok", [Base(), Delta(), FailedDelta()]),
        ControlJsonContext.Default.EnvelopeListVersionRecord));

    [Fact]
    public void UnauthorizedEnvelope() => Golden("unauthorized.json", JsonSerializer.SerializeToUtf8Bytes(
        new Envelope<string>("255", "unauthorized", string.Empty),
        ControlJsonContext.Default.EnvelopeString));

    [Fact]
    public void PersistedTransferState() => Golden("transfer-state.json", JsonSerializer.SerializeToUtf8Bytes(
        new TransferState { Current = "1700000000_1700000000", History = [Base(), Delta()], Reported = ["patch.txt:3"] },
        ControlJsonContext.Default.TransferState));

    [Fact]
    public void PersistedTransferStateReadsBack()
    {
        var bytes = File.ReadAllBytes(Path.Combine(GoldenDirectory, "transfer-state.json"));
        var state = JsonSerializer.Deserialize(bytes, ControlJsonContext.Default.TransferState)!;
        Assert.Equal(bytes, JsonSerializer.SerializeToUtf8Bytes(state, ControlJsonContext.Default.TransferState));
    }

    [Fact]
    public void AgentCommandAndReplies()
    {
        Golden("agent-command.json", JsonSerializer.SerializeToUtf8Bytes(
            new VersionCommand { Version = "1700000300", Base = "1700000000", Mode = VersionMode.Delta },
            ControlJsonContext.Default.VersionCommand));
        Golden("agent-reply-staging.json", JsonSerializer.SerializeToUtf8Bytes(
            new AgentReply { Ok = true, State = AgentState.Staging, LiveVersion = "1700000000" },
            ControlJsonContext.Default.AgentReply));
        Golden("agent-reply-refused.json", JsonSerializer.SerializeToUtf8Bytes(
            new AgentReply { Ok = false, State = AgentState.Refused, Error = "missing or wrong bearer token" },
            ControlJsonContext.Default.AgentReply));
        var command = JsonSerializer.Deserialize("""{"version":"1700000300","base":"1700000000","mode":"delta"}""", ControlJsonContext.Default.VersionCommand)!;
        Assert.Equal(("1700000300", "1700000000"), (command.Version, command.Base));
        var activate = JsonSerializer.Deserialize("""{"version":"1700000300","base":"1700000000","retain_from":"1700000100"}""", ControlJsonContext.Default.VersionCommand)!;
        Assert.Equal("1700000100", activate.RetainFrom);
    }

    [Fact]
    public void AgentStatusDocument() => Golden("agent-status.json", JsonSerializer.SerializeToUtf8Bytes(
        new AgentStatus
        {
            Dict = "test_dict",
            Shard = 1,
            LiveVersion = "1700000000_1700000300",
            LiveBase = "1700000000",
            LiveLayers = ["1700000000", "1700000300"],
            Staged = ["1700000000_1700000000", "1700000000_1700000300"],
            Staging = [new StagingProgress { Version = "1700000000_1700000600", State = AgentState.Staging, Bytes = 10, TotalBytes = 100, ResumedBytes = 5 }],
            Transfer = "http://127.0.0.1:8099/",
            Downloads = 3,
            Activations = 2,
            LastError = null,
        },
        ControlJsonContext.Default.AgentStatus));

    private static string GoldenDirectory => Path.Combine(TestData.RepositoryRoot, "tests", "Appliance.Core.Tests", "Control", "golden");

    private static void Golden(string name, byte[] actual)
    {
        var path = Path.Combine(GoldenDirectory, name);
        if (Environment.GetEnvironmentVariable("CUBE_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllBytes(path, actual);
        }

        Assert.True(File.Exists(path), $"{path} is missing (run once with CUBE_UPDATE_GOLDEN=1 and review it)");
        Assert.Equal(File.ReadAllText(path), System.Text.Encoding.UTF8.GetString(actual));
    }

    private static List<InstanceRecord> ActiveInstances(string version, string depend, VersionMode mode)
    {
        var list = new List<InstanceRecord>();
        for (var shard = 0; shard < 2; shard++)
        {
            var instance = new InstanceRecord { DictName = "test_dict", Mode = mode, Version = version, Depend = depend, Shard = shard, Replica = 0, AgentIp = "127.0.0.1", AgentPort = 8001 + shard, Attempts = 1, DownloadStartTime = 1700000010, DownloadedTime = 1700000011, EnabledTime = 1700000012 };
            instance.Set(InstanceStatus.Active);
            list.Add(instance);
        }

        return list;
    }

    private static VersionRecord Base()
    {
        var v = new VersionRecord { DictName = "test_dict", Version = "1700000000", Depend = "1700000000", Id = "1700000000", Key = "1700000000", Mode = VersionMode.Base, Input = "/data/train/1700000000/base", Output = "/data/output/1700000000_1700000000", Attempts = 1, CreateTime = 1700000001, FinishTime = 1700000013, Built = true, BuildSeconds = 1.25, StageSeconds = 0.5, ActivateSeconds = 0.25, TotalSeconds = 12, Instances = ActiveInstances("1700000000", "1700000000", VersionMode.Base) };
        v.Set(VersionStatus.Finished);
        return v;
    }

    private static VersionRecord Delta()
    {
        var v = new VersionRecord { DictName = "test_dict", Version = "1700000300", Depend = "1700000000", Id = "1700000300", Key = "1700000000", Mode = VersionMode.Delta, Input = "/data/train/1700000300/patch", Output = "/data/output/1700000000_1700000300", Attempts = 1, CreateTime = 1700000301, Built = true, BuildSeconds = 0.5 };
        v.Set(VersionStatus.Staging);
        var staged = new InstanceRecord { DictName = "test_dict", Mode = VersionMode.Delta, Version = "1700000300", Depend = "1700000000", Shard = 0, AgentIp = "127.0.0.1", AgentPort = 8001, Attempts = 1, DownloadStartTime = 1700000302, DownloadedTime = 1700000303 };
        staged.Set(InstanceStatus.Staged);
        var failed = new InstanceRecord { DictName = "test_dict", Mode = VersionMode.Delta, Version = "1700000300", Depend = "1700000000", Shard = 1, AgentIp = "127.0.0.1", AgentPort = 8002, Attempts = 2, DownloadStartTime = 1700000302 };
        failed.Set(InstanceStatus.StageFailed, "connection refused");
        v.Instances = [staged, failed];
        return v;
    }

    private static VersionRecord FailedDelta()
    {
        var v = new VersionRecord { DictName = "test_dict", Version = "1700000600", Depend = "1700000000", Id = "1700000600", Key = "1700000000", Mode = VersionMode.Delta, Input = "/data/train/1700000600/patch", Attempts = 3, CreateTime = 1700000601, FinishTime = 1700000700, NextRetryTime = 1700000900 };
        v.Set(VersionStatus.Failed, "build failed: truncated record");
        var skipped = new InstanceRecord { DictName = "test_dict", Mode = VersionMode.Delta, Version = "1700000600", Depend = "1700000000", Shard = 0, AgentIp = "127.0.0.1", AgentPort = 8001 };
        skipped.Set(InstanceStatus.Skipped, "down");
        var init = new InstanceRecord { DictName = "test_dict", Mode = VersionMode.Delta, Version = "1700000600", Depend = "1700000000", Shard = 1, AgentIp = "127.0.0.1", AgentPort = 8002 };
        var activateFailed = new InstanceRecord { DictName = "test_dict", Mode = VersionMode.Delta, Version = "1700000600", Depend = "1700000000", Shard = 1, Replica = 1, AgentIp = "127.0.0.2", AgentPort = 8002 };
        activateFailed.Set(InstanceStatus.ActivateFailed, "not staged");
        v.Instances = [skipped, init, activateFailed];
        return v;
    }
}
