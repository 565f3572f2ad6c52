namespace Appliance.Core.Formats;

/// <summary>
/// Reads a whole donefile. Bad lines are collected as errors (file + line) and skipped, so one
/// bad line never hides the good ones; callers decide whether an error is fatal. As in the
/// original, a last line without its newline is still being written and is ignored.
/// </summary>
internal static class DonefileReader
{
    public static IReadOnlyList<DonefileEntry> Read(string path, List<InputFormatException> errors)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add(InputFormatException.AtLine(path, 0, $"cannot read: {e.Message}"));
            return [];
        }

        return Parse(text, path, errors);
    }

    public static IReadOnlyList<DonefileEntry> Parse(string text, string path, List<InputFormatException> errors)
    {
        var entries = new List<DonefileEntry>();
        var lineNumber = 0L;
        var start = 0;
        while (start < text.Length)
        {
            var newline = text.IndexOf('\n', start);
            if (newline < 0)
            {
                break; // unterminated fragment: the producer is still appending it
            }

            lineNumber++;
            var line = text.AsSpan(start, newline - start).Trim();
            start = newline + 1;
            if (line.IsEmpty)
            {
                continue;
            }

            try
            {
                entries.Add(DonefileEntry.Parse(line.ToString(), path, lineNumber));
            }
            catch (InputFormatException e)
            {
                errors.Add(e);
            }
        }

        return entries;
    }

    /// <summary>Appends one line and flushes it to disk; the producer side of the protocol.</summary>
    /// <summary>Appends one line (fsynced, with its directory), refusing a line the transfer would
    /// skip: its id must be newer than every earlier line's (of the same base, in patch.txt).</summary>
    public static void Append(string path, DonefileEntry entry)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        if (File.Exists(path))
        {
            var isPatchFile = !entry.IsBase;
            foreach (var earlier in Read(path, []))
            {
                if ((!isPatchFile || earlier.Key == entry.Key) && VersionId.Compare(entry.Id, earlier.Id) <= 0)
                {
                    throw new InputFormatException(path, $"line {earlier.LineNumber}", $"id {earlier.Id} is not older than the new id {entry.Id}: the transfer would skip the new line (it takes only newer ids). A line with a future id blocks every later version: remove it (or roll the clock past it) before exporting");
                }
            }
        }

        var created = !File.Exists(path);
        using (var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(entry.ToLine() + "\n");
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        if (created)
        {
            Native.DirectorySync.Sync(directory);
        }
    }
}
