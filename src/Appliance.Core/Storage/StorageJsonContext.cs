using System.Text.Json.Serialization;
namespace Appliance.Core.Storage;

/// <summary>Source-generated JSON for the package files: manifest.json and version.json (no reflection: AOT).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(ShardManifest))]
[JsonSerializable(typeof(VersionInfo))]
internal sealed partial class StorageJsonContext : JsonSerializerContext
{
}
