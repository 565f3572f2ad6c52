using System.Globalization;

namespace Appliance.Core.Storage;

/// <summary>
/// Remembers that a shard's files were checksummed, so a restart does not hash them again: the
/// full XxHash128 of index and values made cold start grow with the table (0.2 s at 1M keys, 0.7 s
/// at 20M, minutes at hundreds of GB) although the files had not changed since the last check.
/// <para>After a successful check, <c>.verified</c> is written beside the manifest (write, fsync,
/// rename) with each file's digest and <see cref="Native.FileIdentity"/>: device, inode, size,
/// modification time and status-change time (ctime), in nanoseconds. A load skips the hashing only
/// when all of them still match. What this catches: any write to a file (new mtime and ctime), a
/// write with its mtime put back (<c>touch -r</c>: the kernel still moves ctime, and user space
/// cannot set it), a copy (<c>cp -a</c>: a new inode and ctime), truncation, replacement. What it
/// does not catch: bytes changed without the file system knowing — a bit flipped by the disk or a
/// raw write to the block device under an unchanged inode. <c>cube package verify</c> never trusts
/// the stamp: it hashes everything, every time; deleting <c>.verified</c> makes the next load do
/// the same. A directory the process cannot write is verified on every load.</para>
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
            return file.Exists && file.Length <= MaxBytes && Expected(directory, manifest) is { } expected && File.ReadAllText(path) == expected;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Records a successful check; best effort (a read-only directory is verified each time).
    /// Not for files changed in the last <see cref="Settle"/>: file times tick coarsely (a few ms),
    /// so a write right after the check could leave them unchanged — git's "racily clean" case.</summary>
    public static void TryWrite(string directory, ShardManifest manifest)
    {
        try
        {
            var fresh = DateTime.UtcNow - Settle;
            foreach (var digest in new[] { manifest.Index, manifest.Values })
            {
                if (Native.FileIdentity.Of(Path.Combine(directory, digest.File)) is not { } identity || identity.Changed > fresh)
                {
                    return;
                }
            }

            if (Expected(directory, manifest) is { } expected)
            {
                Formats.AtomicFile.Write(Path.Combine(directory, FileName), System.Text.Encoding.UTF8.GetBytes(expected));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not writable: verify again next time
        }
    }

    private static string? Expected(string directory, ShardManifest manifest) =>
        Line(directory, manifest.Index) is { } index && Line(directory, manifest.Values) is { } values
            ? $"cube-verified 2\n{index}\n{values}\n"
            : null;

    private static string? Line(string directory, FileDigest digest) =>
        Native.FileIdentity.Of(Path.Combine(directory, digest.File)) is { } identity
            ? string.Create(CultureInfo.InvariantCulture, $"{digest.File} {digest.Xxh128} {identity}")
            : null;
}
