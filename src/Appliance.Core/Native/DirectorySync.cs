using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>
/// fsync(2) of a directory, which .NET does not offer: after a file is created or renamed into a
/// directory, the directory entry itself reaches the disk only when the directory is synced. Without
/// it a power loss can forget a rename whose file content was already flushed.
/// </summary>
internal static class DirectorySync
{
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = LibC.Open(directory, LibC.ORdOnly | LibC.ODirectory);
        if (fd < 0)
        {
            throw new IOException($"{directory}: cannot open the directory to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (LibC.fsync(fd) != 0)
            {
                throw new IOException($"{directory}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            LibC.close(fd);
        }
    }
}
