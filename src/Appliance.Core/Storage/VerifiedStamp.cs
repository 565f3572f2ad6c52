using System.Globalization;

namespace Appliance.Core.Storage;

/// <summary>
/// Remembers that a shard's files were checksummed, so a restart does not hash them again: the
/// full XxHash128 of index and values made cold start grow with the table (0.2 s at 1M keys, 0.7 s
/// at 20M, minutes at hundreds of GB) although the files had not changed since the last check.
/// <para>After a successful check, <c>.verified</c> is written beside the manifest (write, fsync,
/// rename) with each file's digest, length, modification and creation times. The next open skips
/// the hashing only when all of them still match the files on disk; any rewrite, copy, truncation
/// or touch of a file changes its times or length and the files are hashed again. What it does not
/// catch is a bit flipped by the disk under an unchanged inode (the stamp trusts the file system's
/// metadata, as git's index does): <c>cube package verify</c> hashes everything at any time, and
/// deleting <c>.verified</c> forces the next load to. A directory the process cannot write keeps
/// being verified on every load.</para>
/// </summary>
internal static class VerifiedStamp
{
    public const string FileName = ".verified";

    private const int MaxBytes = 4096;

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    public static bool Matches(string directory, ShardManifest manifest)
    {
        var path = Path.Combine(directory, FileName);
        try
        {
            // A stamp is a few hundred bytes; anything larger is not one (never read a huge file).
            var file = new FileInfo(path);
            return file.Exists && file.Length <= MaxBytes && File.ReadAllText(path) == Expected(directory, manifest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Records a successful check; best effort (a read-only directory is verified each time).
    /// Not for files modified in the last <see cref="Settle"/>: file times tick coarsely (a few ms),
    /// so a write right after the check could leave them unchanged — git's "racily clean" case.</summary>
    public static void TryWrite(string directory, ShardManifest manifest)
    {
        try
        {
            var fresh = DateTime.UtcNow - Settle;
            if (new[] { manifest.Index.File, manifest.Values.File }.Any(f => File.GetLastWriteTimeUtc(Path.Combine(directory, f)) > fresh))
            {
                return;
            }

            Formats.AtomicFile.Write(Path.Combine(directory, FileName), System.Text.Encoding.UTF8.GetBytes(Expected(directory, manifest)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not writable: verify again next time
        }
    }

    private static string Expected(string directory, ShardManifest manifest) =>
        $"cube-verified 1\n{Line(directory, manifest.Index)}\n{Line(directory, manifest.Values)}\n";

    private static string Line(string directory, FileDigest digest)
    {
        var file = new FileInfo(Path.Combine(directory, digest.File));
        return string.Create(CultureInfo.InvariantCulture, $"{digest.File} {digest.Xxh128} {file.Length} {file.LastWriteTimeUtc.Ticks} {file.CreationTimeUtc.Ticks}");
    }
}
