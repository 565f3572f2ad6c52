using System.Text.Json.Serialization;
using Appliance.Core.Storage;

namespace Appliance.Core;

/// <summary>Source-generated JSON for every type the core writes or reads (no reflection: AOT).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(ShardManifest))]
[JsonSerializable(typeof(VersionInfo))]
internal sealed partial class CoreJsonContext : JsonSerializerContext
{
}
