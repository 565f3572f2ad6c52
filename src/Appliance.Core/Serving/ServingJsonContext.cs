using System.Text.Json.Serialization;

namespace Appliance.Core.Serving;

/// <summary>Source-generated JSON for the serving roles' status documents.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(ShardStatus))]
internal sealed partial class ServingJsonContext : JsonSerializerContext
{
}
