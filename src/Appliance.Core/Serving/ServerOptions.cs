using System.Net;

namespace Appliance.Core.Serving;

/// <summary>Settings of the server role; every field is documented with its flag and default in
/// <c>cube run --help</c>.</summary>
internal sealed record ServerOptions
{
    public IPAddress Bind { get; init; } = IPAddress.Any;

    public int Port { get; init; } = 8000;

    public required string DataDir { get; init; }

    public required string Dict { get; init; }

    public int Shard { get; init; }

    public bool InMemory { get; init; } = true;

    /// <summary>--values disk: values read from the device through a row cache (null: in memory
    /// or mapped, as <see cref="InMemory"/> says).</summary>
    public Storage.DiskTierOptions? Disk { get; init; }

    /// <summary>Patch layers left unmerged on a base before a background merge (--merge-after).</summary>
    public int MergeAfter { get; init; } = Storage.ShardStore.DefaultMergeAfter;

    /// <summary>Patch keys, in percent of the base's, from which a merge folds the base in (--fold-at; 0 = never).</summary>
    public int FoldAt { get; init; } = Storage.ShardStore.DefaultFoldAt;

    public int MaxPayloadBytes { get; init; } = Protocol.FrameHeader.DefaultMaxPayload;

    /// <summary>Connections, timeouts and receive memory of the data port.</summary>
    public Net.ServerLimits Limits { get; init; } = new();

    /// <summary>Poll the data directory for newer versions every this many seconds (0 = never;
    /// the agent role drives versions when it runs).</summary>
    public int WatchSeconds { get; init; }

    /// <summary>Time every data-plane request into the latency histograms (--latency-histograms);
    /// off only to measure what they cost.</summary>
    public bool LatencyHistograms { get; init; } = true;

    /// <summary>The agent role decides what is live: nothing is loaded from the data directory at
    /// start (the agent restores its last activated version).</summary>
    public bool Managed { get; init; }

    /// <summary>--resp-port: the read-only Redis front on this shard (null = off).</summary>
    public int? RespPort { get; init; }

    /// <summary>--resp-token-file: RESP clients must AUTH with this secret (null = no AUTH).</summary>
    public Hosting.BearerToken? RespToken { get; init; }
}
