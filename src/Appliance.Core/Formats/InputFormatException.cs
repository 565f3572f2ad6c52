namespace Appliance.Core.Formats;

/// <summary>
/// Malformed input. The message always names the file and where in it the fault is
/// (a byte offset for binary files, a line number for text files), so an operator can go
/// straight to the bad bytes.
/// </summary>
internal sealed class InputFormatException : Exception
{
    public InputFormatException(string path, string location, string message)
        : base($"{path}: {location}: {message}")
    {
        Path = path;
        Location = location;
        Reason = message;
    }

    public string Path { get; }

    /// <summary>"offset N" or "line N".</summary>
    public string Location { get; }

    public string Reason { get; }

    public static InputFormatException AtOffset(string path, long offset, string message) =>
        new(path, $"offset {offset}", message);

    public static InputFormatException AtLine(string path, long line, string message) =>
        new(path, $"line {line}", message);
}
