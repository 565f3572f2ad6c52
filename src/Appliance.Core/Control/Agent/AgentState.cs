using System.Text.Json.Serialization;

namespace Appliance.Core.Control.Agent;

/// <summary>The state an agent's reply reports (<c>state</c> in its JSON, lowercase); it also
/// picks the reply's HTTP status (<see cref="AgentEndpoints"/>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AgentState>))]
internal enum AgentState
{
    /// <summary>Downloading and verifying; ask again.</summary>
    [JsonStringEnumMemberName("staging")]
    Staging,

    [JsonStringEnumMemberName("staged")]
    Staged,

    [JsonStringEnumMemberName("active")]
    Active,

    [JsonStringEnumMemberName("retired")]
    Retired,

    /// <summary>The command itself was not acceptable (HTTP 400, 401 for a bad token).</summary>
    [JsonStringEnumMemberName("refused")]
    Refused,

    /// <summary>Retire of a version the live view uses (HTTP 409).</summary>
    [JsonStringEnumMemberName("live")]
    Live,

    /// <summary>Staging or activation failed; the live version keeps serving (HTTP 500).</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}
