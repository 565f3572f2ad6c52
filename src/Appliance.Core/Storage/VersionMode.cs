using System.Text.Json.Serialization;

namespace Appliance.Core.Storage;

/// <summary>What a version is: a base (a whole table) or a delta (rows that patch a base). On disk
/// and on the wire it is the text "base" or "delta" (manifest.json, version.json, the transfer's
/// records, the agent's commands), as the original wrote it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VersionMode>))]
internal enum VersionMode
{
    [JsonStringEnumMemberName("base")]
    Base,

    [JsonStringEnumMemberName("delta")]
    Delta,
}
