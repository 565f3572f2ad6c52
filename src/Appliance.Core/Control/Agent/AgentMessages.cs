using Appliance.Core.Storage;

namespace Appliance.Core.Control.Agent;

/// <summary>Body of POST /agent/stage, /agent/activate and /agent/retire: which version. Nothing in
/// it becomes a path: the ids are checked to be digits and the agent builds every path itself.</summary>
internal sealed record VersionCommand
{
    public string Version { get; init; } = string.Empty;

    public string Base { get; init; } = string.Empty;

    /// <summary>Required for stage (checked against the ids); null when absent.</summary>
    public VersionMode? Mode { get; init; }

    /// <summary>Activate only: the oldest version of this lineage that must stay roll-backable
    /// (transfer.conf's retain_versions); older patches may be folded into the base package and
    /// their own packages dropped. Null (left out of the JSON): keep every version.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? RetainFrom { get; init; }
}

/// <summary>The agent's answer to a command.</summary>
internal sealed record AgentReply
{
    public required bool Ok { get; init; }

    public required AgentState State { get; init; }

    public string? Error { get; init; }

    public string LiveVersion { get; init; } = string.Empty;
}

/// <summary>One version being staged (downloaded and verified).</summary>
internal sealed record StagingProgress
{
    public required string Version { get; init; }

    public required AgentState State { get; init; }

    public long Bytes { get; init; }

    public long TotalBytes { get; init; }

    /// <summary>Bytes that were already on disk from an interrupted download and were not fetched again.</summary>
    public long ResumedBytes { get; init; }

    public string? Error { get; init; }
}

/// <summary>What <c>GET /agent/status</c> (and the agent section of /status) report.</summary>
internal sealed record AgentStatus
{
    public required string Dict { get; init; }

    public required int Shard { get; init; }

    public required string LiveVersion { get; init; }

    public required string LiveBase { get; init; }

    public required IReadOnlyList<string> LiveLayers { get; init; }

    /// <summary>Versions on disk, downloaded and verified (as &lt;base&gt;_&lt;version&gt;).</summary>
    public required IReadOnlyList<string> Staged { get; init; }

    public required IReadOnlyList<StagingProgress> Staging { get; init; }

    public required string Transfer { get; init; }

    public long Downloads { get; init; }

    public long Activations { get; init; }

    public string? LastError { get; init; }
}

/// <summary>Which version the agent last activated (data-dir/ACTIVE.json): what a restart serves.</summary>
internal sealed record ActiveMarker
{
    public required string Base { get; init; }

    public required string Version { get; init; }

    /// <summary>The activation's retain_from: a restart keeps retaining as the transfer last
    /// asked, instead of waiting for the next activation. Left out when null (markers written
    /// before it existed read as "keep every version").</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? RetainFrom { get; init; }
}
