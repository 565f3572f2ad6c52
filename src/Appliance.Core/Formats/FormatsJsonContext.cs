using System.Text.Json.Serialization;

namespace Appliance.Core.Formats;

/// <summary>Source-generated JSON for the formats written by hand (a donefile line's strings).</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class FormatsJsonContext : JsonSerializerContext
{
}
