using System.Text.Json.Serialization;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;

namespace Appliance.Core.Control;

/// <summary>Source-generated JSON for the control plane (agent and transfer).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(VersionCommand))]
[JsonSerializable(typeof(AgentReply))]
[JsonSerializable(typeof(AgentStatus))]
[JsonSerializable(typeof(ActiveMarker))]
[JsonSerializable(typeof(TransferState))]
[JsonSerializable(typeof(Envelope<DictInfo>))]
[JsonSerializable(typeof(Envelope<List<InstanceRecord>>))]
[JsonSerializable(typeof(Envelope<List<VersionRecord>>))]
[JsonSerializable(typeof(Envelope<string>))]
[JsonSerializable(typeof(TransferStatus))]
[JsonSerializable(typeof(Envelope<TransferStatus>))]
[JsonSerializable(typeof(OperatorRequest))]
internal sealed partial class ControlJsonContext : JsonSerializerContext
{
}
