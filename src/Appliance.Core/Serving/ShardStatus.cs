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

    /// <summary>The disk tier (--values disk), or null when values are in memory or mapped.</summary>
    public DiskTierStatus? Disk { get; init; }

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

/// <summary>A disk tier's state in <c>/status</c>: where reads go, what the cache holds and how
/// often it answers.</summary>
internal sealed record DiskTierStatus
{
    /// <summary>uring or pread.</summary>
    public required string ReadEngine { get; init; }

    /// <summary>False where the file system refused O_DIRECT (reads then go through the page cache).</summary>
    public required bool DirectIo { get; init; }

    public required long CacheBytes { get; init; }

    public required long CacheRows { get; init; }

    public required long CacheRowsFilled { get; init; }

    /// <summary>Found keys answered since start (from the cache or the device).</summary>
    public required long Keys { get; init; }

    public required long CacheHits { get; init; }

    /// <summary>Hits ÷ keys (0 before the first key).</summary>
    public required double HitRate { get; init; }

    public required long DeviceReads { get; init; }

    /// <summary>Device reads ÷ found keys: at most 1 plus the rare second read of a long raw row.</summary>
    public required double ReadsPerKey { get; init; }

    public required long ReadBytes { get; init; }

    /// <summary>Keys failed by a read error or short read (their requests were refused).</summary>
    public required long FailedKeys { get; init; }

    /// <summary>Rows put into empty cache ways by the background prefill from a loaded base.</summary>
    public required long Prefilled { get; init; }

    /// <summary>Rows the admission policy let into the cache.</summary>
    public required long Admitted { get; init; }

    /// <summary>Median and 99th percentile of one request's batch of device reads, in ms.</summary>
    public double? ReadP50Ms { get; init; }

    public double? ReadP99Ms { get; init; }

    /// <summary>Why the tier runs otherwise than asked (io_uring refused, rows too long for the cache), or null.</summary>
    public string? Note { get; init; }
}
