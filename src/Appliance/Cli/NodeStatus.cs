using System.Text.Json.Serialization;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Serving;

namespace Appliance.Cli;

/// <summary>A node's <c>GET /status</c> as <c>cube status</c> reads it: each role's section is the
/// typed record that role writes (<see cref="ShardStatus"/>, <see cref="AgentStatus"/>,
/// <see cref="TransferStatus"/>, <see cref="EngineStatus"/>), so a renamed or retyped field breaks
/// the build, not the tool. A section a node does not run is null.</summary>
internal sealed record NodeStatus
{
    public ShardStatus? Server { get; init; }

    public AgentStatus? Agent { get; init; }

    public TransferStatus? Transfer { get; init; }

    public EngineStatus? Engine { get; init; }
}

/// <summary>The roles' records read with the names they are written with (snake_case); members a
/// newer node adds are skipped; a required member missing, or one of the wrong type, fails the read
/// (the node is shown DOWN with the reason).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(NodeStatus))]
internal sealed partial class StatusJsonContext : JsonSerializerContext
{
}
