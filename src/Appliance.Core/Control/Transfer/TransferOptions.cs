using Appliance.Core.Net;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// Settings of the transfer role, from the original <c>transfer.conf</c> (INI) or the same keys in
/// JSON (<see cref="Formats.TransferConfReader"/>). Keys of the original that only made sense with
/// its external builder and wget (<c>buildtool_local</c>, <c>download_mode</c>, <c>wget_port</c>,
/// <c>transfer_address</c>) are accepted and reported, not used.
/// </summary>
internal sealed record TransferOptions
{
    public required string DictName { get; init; }

    /// <summary>base_only: only base.txt is followed; base_delta: patches of the current base too.</summary>
    public string Mode { get; init; } = "base_delta";

    /// <summary>Local directory or http(s):// URL holding base.txt and patch.txt.</summary>
    public required string DonefileAddress { get; init; }

    /// <summary>Where built packages go (served to agents from here).</summary>
    public required string OutputAddress { get; init; }

    /// <summary>Work directory: downloaded donefiles and inputs, and the persisted rollout state.</summary>
    public required string TmpAddress { get; init; }

    public required int ShardNum { get; init; }

    public required int CopyNum { get; init; }

    /// <summary>Agents[s][r]: HTTP address (host:port) of the agent for shard s, replica r.</summary>
    public required IReadOnlyList<IReadOnlyList<NodeAddress>> Agents { get; init; }

    /// <summary>Cubes[s][r]: data address of the server (informational, as in the original).</summary>
    public IReadOnlyList<IReadOnlyList<NodeAddress>> Cubes { get; init; } = [];

    public string? TokenFile { get; init; }

    public int PollSeconds { get; init; } = 10;

    /// <summary>wait: a version waits for every replica; skip: a replica still failing after
    /// <see cref="MaxAttempts"/> is skipped (caught up when it returns) as long as every shard has
    /// at least one replica with the version.</summary>
    public string DownPolicy { get; init; } = "skip";

    /// <summary>Tries per instance and step before the step fails for that instance.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Instances driven at once.</summary>
    public int Parallelism { get; init; } = 8;

    /// <summary>Longest a replica may take to stage one version.</summary>
    public int StageTimeoutSeconds { get; init; } = 1800;

    /// <summary>Cap on the package download rate per connection, bytes/s (0 = none), like the original's wget --limit-rate.</summary>
    public long ServeBytesPerSecond { get; init; }

    /// <summary>How the builder stores values (raw bytes, or float rows as f32/f16/i8); must be
    /// what the engine's model.json names.</summary>
    public Storage.ValueCodec ValueCodec { get; init; } = Storage.ValueCodec.Raw;

    /// <summary>A remote donefile or listing must arrive within this many seconds; an input
    /// download may not go this long without a byte.</summary>
    public int FetchTimeoutSeconds { get; init; } = 30;

    /// <summary>Lineages (a base and its patches) the agents keep after a new base is active: the
    /// current one and the ones before it, so an operator can roll back across a base.</summary>
    public int RetainLineages { get; init; } = 2;

    /// <summary>Versions of the live lineage that stay roll-backable: the last this many activated
    /// (the live one included). Older patches may be folded into the base package on the agents and
    /// their own packages dropped, so a lineage's disk stops growing with every patch. 0: every
    /// version of a retained lineage stays (the disk grows with the patches).</summary>
    public int RetainVersions { get; init; } = DefaultRetainVersions;

    /// <summary>The default of <see cref="RetainVersions"/>: two hours of patches every five minutes.</summary>
    public const int DefaultRetainVersions = 24;

    /// <summary>How often a rollout in progress logs where it is (build counters, each replica's state).</summary>
    public int ProgressSeconds { get; init; } = 10;

    public IReadOnlyDictionary<string, string> Ignored { get; init; } = new Dictionary<string, string>();

    public int InstanceCount => ShardNum * CopyNum;
}
