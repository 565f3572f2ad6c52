using System.Globalization;
using System.Text.Json;

namespace Appliance.Core.Formats;

/// <summary>
/// One line of a donefile (<c>base.txt</c> / <c>patch.txt</c>):
/// <c>{"id": "1562000401", "key": "1562000400", "input": "/abs/dir"}</c>. All three are strings;
/// id and key are digits. A base has id == key; a patch's key is its base's id.
/// </summary>
internal sealed record DonefileEntry(string Id, string Key, string Input, long LineNumber = 0)
{
    public bool IsBase => Id == Key;

    public ulong IdNumber => ulong.Parse(Id, CultureInfo.InvariantCulture);

    /// <summary>The line as kv_to_seqfile.py writes it (Python json.dumps default separators).</summary>
    public string ToLine() =>
        $"{{\"id\": {JsonSerializer.Serialize(Id, FormatsJsonContext.Default.String)}, \"key\": {JsonSerializer.Serialize(Key, FormatsJsonContext.Default.String)}, \"input\": {JsonSerializer.Serialize(Input, FormatsJsonContext.Default.String)}}}";

    /// <summary>Parses one line; throws <see cref="InputFormatException"/> naming file and line.</summary>
    public static DonefileEntry Parse(string line, string path, long lineNumber)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw InputFormatException.AtLine(path, lineNumber, $"not JSON: {e.Message}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw InputFormatException.AtLine(path, lineNumber, "expected a JSON object {\"id\",\"key\",\"input\"}");
            }

            var id = Field(doc.RootElement, "id", path, lineNumber, digits: true);
            var key = Field(doc.RootElement, "key", path, lineNumber, digits: true);
            var input = Field(doc.RootElement, "input", path, lineNumber, digits: false);
            return new DonefileEntry(id, key, input, lineNumber);
        }
    }

    private static string Field(JsonElement root, string name, string path, long lineNumber, bool digits)
    {
        if (!root.TryGetProperty(name, out var element))
        {
            throw InputFormatException.AtLine(path, lineNumber, $"missing field \"{name}\"");
        }

        // The original producers write strings; a bare JSON number is accepted for ids.
        var text = element.ValueKind switch
        {
            JsonValueKind.String => element.GetString()!,
            JsonValueKind.Number when digits => element.GetRawText(),
            _ => throw InputFormatException.AtLine(path, lineNumber, $"field \"{name}\" must be a string"),
        };

        if (digits && (text.Length == 0 || text.Length > 19 || !text.All(char.IsAsciiDigit)))
        {
            throw InputFormatException.AtLine(path, lineNumber, $"field \"{name}\" = '{text}' is not a version id (1 to 19 digits)");
        }

        if (!digits && text.Length == 0)
        {
            throw InputFormatException.AtLine(path, lineNumber, $"field \"{name}\" is empty");
        }

        return text;
    }
}
