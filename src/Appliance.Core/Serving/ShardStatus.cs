namespace Appliance.Core.Serving;

/// <summary>What <c>GET /status</c> (and the status opcode) report for a server role.</summary>
internal sealed record ShardStatus
{
    public required string Role { get; init; }

    public required string Dict { get; init; }

    public required int Shard { get; init; }

    /// <summary>"&lt;base&gt;" or "&lt;base&gt;_&lt;patch&gt;", empty while nothing is live.</summary>
    public required string LiveVersion { get; init; }

    public required string BaseVersion { get; init; }

    public required IReadOnlyList<string> Layers { get; init; }

    /// <summary>Layers a lookup probes: the base, a merged layer, the patches not merged yet.</summary>
    public int ReadLayers { get; init; }

    /// <summary>Patches a folded base and the merged layer hold (0: none merged).</summary>
    public int MergedPatches { get; init; }

    /// <summary>Patches folded into the base layer (0: the base is the built one).</summary>
    public int FoldedPatches { get; init; }

    public long Merges { get; init; }

    /// <summary>Merges that folded the base in too.</summary>
    public long Folds { get; init; }

    /// <summary>A merge or fold is running in the background now.</summary>
    public bool Merging { get; init; }

    public long MergeFailures { get; init; }

    public double LastMergeSeconds { get; init; }

    public string? LastMergeError { get; init; }

    /// <summary>The oldest version kept roll-backable (the transfer's retain_versions; null: all).</summary>
    public string? RetainFrom { get; init; }

    /// <summary>Patches the base package holds folded in: their packages are dropped, and no
    /// version before the last of them can be served here.</summary>
    public int AnchoredPatches { get; init; }

    /// <summary>Folds promoted into the base package.</summary>
    public long Promotions { get; init; }

    public long PromotionFailures { get; init; }

    public string? LastPromotionError { get; init; }

    public required long Keys { get; init; }

    public required long BytesMapped { get; init; }

    public required bool InMemory { get; init; }

    public required double UptimeSeconds { get; init; }

    public required long Requests { get; init; }

    public required long Lookups { get; init; }

    public required long KeysLookedUp { get; init; }

    public required long Misses { get; init; }

    public required long Errors { get; init; }

    public required int Connections { get; init; }

    public required long Switches { get; init; }

    /// <summary>Socket reads; requests ÷ receives is how many requests one read carried.</summary>
    public long Receives { get; init; }

    public long Sends { get; init; }

    public long BytesIn { get; init; }

    public long BytesOut { get; init; }

    /// <summary>Lookup requests per second over <see cref="RecentWindowSeconds"/> (about the last minute).</summary>
    public double LookupsPerSecond { get; init; }

    /// <summary>99th percentile of lookup latency on the server over the same window (null: none).</summary>
    public double? LookupP99Seconds { get; init; }

    public double RecentWindowSeconds { get; init; }
}
