namespace Appliance.Core.Formats;

/// <summary>
/// A gflags flag file as the original server read it (<c>conf/gflags.conf</c>): one
/// <c>--name=value</c> (or <c>-name=value</c>, or a bare <c>--name</c> for true) per line; blank
/// lines and lines starting with '#' are ignored.
/// </summary>
internal static class GflagsFile
{
    public static IReadOnlyList<(string Name, string Value, int Line)> Read(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtLine(path, 0, $"cannot read flag file: {e.Message}");
        }

        var flags = new List<(string, string, int)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (line[0] != '-')
            {
                throw InputFormatException.AtLine(path, i + 1, $"expected --name=value, got '{line}'");
            }

            var body = line.TrimStart('-');
            var eq = body.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? body : body[..eq];
            var value = eq < 0 ? "true" : body[(eq + 1)..];
            if (name.Length == 0)
            {
                throw InputFormatException.AtLine(path, i + 1, "flag without a name");
            }

            flags.Add((name, value, i + 1));
        }

        return flags;
    }
}
