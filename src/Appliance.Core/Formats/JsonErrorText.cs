using System.Text.Json;

namespace Appliance.Core.Formats;

/// <summary>JSON errors of files and request bodies, said the same way everywhere.</summary>
internal static class JsonErrorText
{
    /// <summary>
    /// A JSON error in the project's words: where (line and byte, counted from 1) and what, without
    /// .NET's type names or its second, disagreeing position ("Path: $.x | LineNumber: 0 |
    /// BytePositionInLine: 7."). <paramref name="fields"/> names the fields the document may have.
    /// </summary>
    public static string Describe(JsonException e, string? fields = null)
    {
        var where = e.LineNumber is { } line ? $"line {line + 1}, byte {(e.BytePositionInLine ?? 0) + 1}" : "the document";
        return $"{where}: {What(e, fields)}";
    }

    /// <summary>What is wrong, without where (for messages that name the line already).</summary>
    public static string What(JsonException e, string? fields = null)
    {
        var path = e.Path is { Length: > 1 } p ? p.TrimStart('$').TrimStart('.') : null;
        var message = e.Message;
        string what;
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            what = $"unknown field '{path}'" + (fields is null ? string.Empty : $" (the fields are {fields})");
        }
        else if (message.Contains("could not be converted to", StringComparison.Ordinal))
        {
            what = $"field '{path}' has the wrong type";
        }
        else if (message.Contains("missing required properties", StringComparison.Ordinal))
        {
            what = "a required field is missing" + (fields is null ? string.Empty : $" (the fields are {fields})");
        }
        else
        {
            // The reader's own words, up to its position note.
            var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            what = (cut > 0 ? message[..cut] : message).TrimEnd(' ', '|', '.').Replace(" Path: $", string.Empty, StringComparison.Ordinal);
            what = char.ToLowerInvariant(what[0]) + what[1..];
        }

        return what;
    }
}
