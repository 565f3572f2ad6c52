using System.Text.Json;

namespace Appliance.Core.Hosting;

/// <summary>The body of every HTTP error this process writes: <c>{"error": "..."}</c>.</summary>
public static class JsonError
{
    public static string Body(string message) => $"{{\"error\": \"{JsonEncodedText.Encode(message)}\"}}";
}
