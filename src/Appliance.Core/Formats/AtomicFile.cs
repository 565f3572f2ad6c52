namespace Appliance.Core.Formats;

/// <summary>Replaces a small file so that readers see the old or the new content, never a part:
/// write a temporary sibling, flush it to disk, rename over the target, sync the directory.</summary>
internal static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var temporary = $"{path}.tmp-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        Native.DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Makes the creations and renames in <paramref name="directory"/> durable (fsync of the directory).</summary>
    public static void SyncDirectory(string directory) => Native.DirectorySync.Sync(directory);
}
