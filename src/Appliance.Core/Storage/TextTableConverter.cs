using Appliance.Core.Formats;

namespace Appliance.Core.Storage;

/// <summary>Text table → SequenceFile(s), what kv_to_seqfile.py did. Records are spread over
/// <c>parts</c> files named part-00000… (so a builder can parse them in parallel) by a hash of the
/// key: every occurrence of a key lands in the same file in input order, so "the last occurrence
/// wins" means the same thing after the split as before it.</summary>
internal static class TextTableConverter
{
    /// <summary>Writes the parts into <paramref name="directory"/> (which must not exist yet: the
    /// files are written beside it and the directory renamed into place when complete).</summary>
    public static long Convert(string textPath, string directory, int parts, int? seed)
    {
        if (Directory.Exists(directory))
        {
            throw new IOException($"{directory} already exists");
        }

        var parent = Path.GetDirectoryName(Path.GetFullPath(directory))!;
        var temporary = Path.Combine(parent, $".tmp-{Path.GetFileName(directory)}-{Environment.ProcessId}");
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        long records = 0;
        try
        {
            var writers = new SequenceFileWriter[parts];
            try
            {
                for (var p = 0; p < parts; p++)
                {
                    writers[p] = SequenceFileWriter.Create(Path.Combine(temporary, $"part-{p:D5}"), seed is { } s ? s + p : null);
                }

                using var reader = TextKvReader.Open(textPath);
                while (reader.MoveNext())
                {
                    writers[(int)(KeyHash.Mix(reader.Key) % (ulong)parts)].Write(reader.Key, reader.Value);
                    records++;
                }
            }
            finally
            {
                foreach (var w in writers)
                {
                    w?.Dispose();
                }
            }

            Directory.Move(temporary, directory);
            return records;
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }
    }
}
