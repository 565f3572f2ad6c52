namespace Appliance.Core.Storage;

/// <summary>
/// Which files under an input directory are table input: every regular file, recursively, in
/// ordinal path order (so "last occurrence wins" is deterministic), skipping symlinks and names
/// starting with '.' or '_' (Hadoop's <c>_SUCCESS</c>, <c>.crc</c> files; the original skipped '.' only).
/// </summary>
internal static class InputFiles
{
    public static IReadOnlyList<string> List(string inputPath)
    {
        if (File.Exists(inputPath))
        {
            return [inputPath];
        }

        if (!Directory.Exists(inputPath))
        {
            throw new Formats.InputFormatException(inputPath, "path", "input directory does not exist");
        }

        var files = new List<string>();
        Walk(new DirectoryInfo(inputPath), files);
        files.Sort(StringComparer.Ordinal);
        if (files.Count == 0)
        {
            throw new Formats.InputFormatException(inputPath, "path", "input directory holds no input files");
        }

        return files;
    }

    private static void Walk(DirectoryInfo directory, List<string> files)
    {
        foreach (var entry in directory.EnumerateFileSystemInfos())
        {
            if (entry.Name.StartsWith('.') || entry.Name.StartsWith('_') || entry.LinkTarget is not null)
            {
                continue;
            }

            if (entry is DirectoryInfo sub)
            {
                Walk(sub, files);
            }
            else
            {
                files.Add(entry.FullName);
            }
        }
    }
}
