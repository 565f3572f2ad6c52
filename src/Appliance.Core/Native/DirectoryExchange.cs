using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>
/// Swaps two directories in one step: renameat2(2) with RENAME_EXCHANGE. Either both names point
/// at their old directories or both at the other's, whatever crashes when; no moment with one
/// name missing (ext4, xfs, btrfs, tmpfs; a file system without it answers EINVAL, reported as
/// an <see cref="IOException"/> naming both paths).
/// </summary>
internal static partial class DirectoryExchange
{
    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    public static void Exchange(string first, string second)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("directory exchange needs Linux's renameat2");
        }

        if (renameat2(AtFdCwd, first, AtFdCwd, second, RenameExchange) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot exchange {first} and {second} (renameat2 RENAME_EXCHANGE: errno {errno}{(errno == 22 ? ", the file system does not support it" : string.Empty)})");
        }

        DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(first))!);
        DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(second))!);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
}
