using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>The original transfer's response envelope: <c>{"success":"0","message":"query ok","data":…}</c>.</summary>
internal sealed record Envelope<T>(string Success, string Message, T Data);

/// <summary>One shard replica's progress with one version (field names follow the original's DictInstance).</summary>
internal sealed class InstanceRecord
{
    public string DictName { get; set; } = string.Empty;

    public VersionMode Mode { get; set; }

    public string Version { get; set; } = string.Empty;

    public string Depend { get; set; } = string.Empty;

    public int Shard { get; set; }

    public int Replica { get; set; }

    public string AgentIp { get; set; } = string.Empty;

    public int AgentPort { get; set; }

    /// <summary>Written as its number (the original's status_id); <see cref="Status"/> names it.</summary>
    public InstanceStatus StatusId { get; set; } = InstanceStatus.Init;

    public string Status { get; set; } = "init";

    public int Attempts { get; set; }

    public string? Error { get; set; }

    public long DownloadStartTime { get; set; }

    public long DownloadedTime { get; set; }

    public long EnabledTime { get; set; }

    public void Set(InstanceStatus status, string? error = null)
    {
        StatusId = status;
        Status = status.Name();
        Error = error;
    }
}

/// <summary>One version's life (field names follow the original's DictVersionInfo, plus timings).</summary>
internal sealed class VersionRecord
{
    public string DictName { get; set; } = string.Empty;

    public string Version { get; set; } = string.Empty;

    /// <summary>The base this version belongs to (the original's "depend").</summary>
    public string Depend { get; set; } = string.Empty;

    public string Id { get; set; } = string.Empty;

    public string Key { get; set; } = string.Empty;

    public VersionMode Mode { get; set; }

    public string Input { get; set; } = string.Empty;

    public string Output { get; set; } = string.Empty;

    /// <summary>Written as its number (the original's status); <see cref="StatusStr"/> names it.</summary>
    public VersionStatus Status { get; set; }

    public string StatusStr { get; set; } = "waiting";

    public string? Error { get; set; }

    public int Attempts { get; set; }

    public long CreateTime { get; set; }

    public long FinishTime { get; set; }

    public long NextRetryTime { get; set; }

    public bool Built { get; set; }

    public double BuildSeconds { get; set; }

    public double StageSeconds { get; set; }

    public double ActivateSeconds { get; set; }

    public double TotalSeconds { get; set; }

    public List<InstanceRecord> Instances { get; set; } = [];

    /// <summary>Operator actions that concerned this version (rollback, pin, unpin, abandon), oldest
    /// first; absent until there is one, so the original's fields stay as they were.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public List<OperatorRecord>? Operations { get; set; }

    public string Label => $"{Depend}_{Version}";

    public bool IsBase => Mode == VersionMode.Base;

    /// <summary>Finished, superseded, rolled back, abandoned or failed: nothing more will happen to
    /// it by itself.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsSettled => Status is VersionStatus.Finished or VersionStatus.Superseded or VersionStatus.RolledBack or VersionStatus.Abandoned or VersionStatus.Failed;

    /// <summary>Reached every shard at some time (it may be served again by a rollback).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool WasActive => Status is VersionStatus.Finished or VersionStatus.Superseded or VersionStatus.RolledBack;

    /// <summary>Was live on every shard at some time, even if abandoned since (its activation told
    /// the agents what they may fold, so it still counts for what stays roll-backable).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool WasEverLive => WasActive || FinishTime > 0;

    public void Record(string action, string detail, long time) =>
        (Operations ??= []).Add(new OperatorRecord { Time = time, Action = action, Detail = detail });

    public void Set(VersionStatus status, string? error = null)
    {
        Status = status;
        StatusStr = status.Name();
        Error = error;
    }
}

/// <summary>Everything the transfer must remember across restarts (tmp_address/transfer-state.json).</summary>
internal sealed class TransferState
{
    /// <summary>Label (&lt;base&gt;_&lt;version&gt;) of the version every shard serves.</summary>
    public string? Current { get; set; }

    public List<VersionRecord> History { get; set; } = [];

    /// <summary>Set by an operator's pin (or rollback): the label that was live then. While set,
    /// the transfer activates nothing new; replicas behind still catch up to the live version.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Pinned { get; set; }

    /// <summary>Donefile problems already reported ("file:line"), so each is logged once.</summary>
    public List<string> Reported { get; set; } = [];
}

/// <summary>The original /dict/info document.</summary>
internal sealed record DictInfo
{
    public required string DictName { get; init; }

    public required string DictMode { get; init; }

    public required int ShardNum { get; init; }

    public required int CopyNum { get; init; }

    public required int InstNum { get; init; }

    public required string DonefileAddr { get; init; }

    public required string OutputAddr { get; init; }

    public required string TmpAddr { get; init; }

    public required string DownPolicy { get; init; }

    public required List<InstanceRecord> Instances { get; init; }

    public VersionRecord? WaitVersionInfo { get; init; }

    public required List<VersionRecord> CurrentVersionInfo { get; init; }
}

/// <summary>The transfer's part of /status.</summary>
internal sealed record TransferStatus
{
    public required string Dict { get; init; }

    public required string CurrentVersion { get; init; }

    public string? InProgress { get; init; }

    public string? InProgressStatus { get; init; }

    public required int VersionsActivated { get; init; }

    public required int VersionsFailed { get; init; }

    public required int DonefileErrors { get; init; }

    public required long Polls { get; init; }

    public string? LastError { get; init; }

    /// <summary>The label the dict is pinned at (nothing new is activated), or null.</summary>
    public string? Pinned { get; init; }

    /// <summary>How a new donefile line is noticed: "inotify on DIR" (at once), or "polling only"
    /// and why (every poll_seconds).</summary>
    public string? DonefileWatch { get; init; }
}

/// <summary>One operator action in the deploy history.</summary>
internal sealed class OperatorRecord
{
    public long Time { get; set; }

    /// <summary>rollback, rolled_back, pin, unpin or abandon.</summary>
    public string Action { get; set; } = string.Empty;

    public string Detail { get; set; } = string.Empty;
}

/// <summary>The body of POST /transfer/rollback and /transfer/abandon: the version as
/// &lt;base&gt;_&lt;version&gt; (rollback: optional, the previous version by default).</summary>
internal sealed record OperatorRequest
{
    public string? Version { get; init; }
}
