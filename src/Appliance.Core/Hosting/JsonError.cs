using System.Text.Encodings.Web;
using System.Text.Json;

namespace Appliance.Core.Hosting;

/// <summary>The body of every HTTP error this process writes: <c>{"error": "..."}</c>. Quotes,
/// apostrophes and non-ASCII stay readable for an operator with curl (the body is served as
/// application/json, never embedded in HTML, so the relaxed escaping is safe).</summary>
internal static class JsonError
{
    public static string Body(string message) => $"{{\"error\": \"{JsonEncodedText.Encode(message, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)}\"}}";
}
