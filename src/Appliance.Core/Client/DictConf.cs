using Appliance.Core.Net;

namespace Appliance.Core.Client;

/// <summary>
/// One entry of the original client's <c>cube.conf</c>, validated:
/// <see cref="Replicas"/>[i] lists the replicas serving shard i.
/// </summary>
internal sealed record DictConf
{
    public required string DictName { get; init; }

    public required int Shards { get; init; }

    /// <summary>Copies per shard the deployment intends (informational, as in the original).</summary>
    public int Dup { get; init; } = 1;

    /// <summary>Time limit of one shard request, retries and backup requests included.</summary>
    public int TimeoutMs { get; init; } = 1000;

    /// <summary>How many more replicas a shard request may try after a failure.</summary>
    public int Retry { get; init; } = 2;

    /// <summary>After this many ms without a reply a duplicate request goes to another replica
    /// and the first reply wins; 0 = off.</summary>
    public int BackupRequestMs { get; init; }

    public string Type { get; init; } = "ipport_list";

    /// <summary>rr (round robin), random, or la (fewest requests in flight).</summary>
    public string LoadBalancer { get; init; } = "rr";

    public required IReadOnlyList<IReadOnlyList<NodeAddress>> Replicas { get; init; }
}
