using Appliance.Core.Hosting;

namespace Appliance.Core.Control.Agent;

/// <summary>Settings of the agent role (it shares --data-dir, --dict and --shard with the server role).</summary>
internal sealed record AgentOptions
{
    public required string DataDir { get; init; }

    public required string Dict { get; init; }

    public required int Shard { get; init; }

    /// <summary>The only origin packages are downloaded from (the transfer's HTTP port).</summary>
    public required Uri Transfer { get; init; }

    public required BearerToken Token { get; init; }

    /// <summary>Largest package (index + values of one shard version) the agent downloads; a
    /// manifest announcing more is refused before a byte is fetched.</summary>
    public long MaxPackageBytes { get; init; } = 1L << 40;

    /// <summary>A download that receives nothing for this long is abandoned (resumed next try).</summary>
    public TimeSpan DownloadIdleTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
