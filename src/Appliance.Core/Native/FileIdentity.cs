using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>
/// What identifies one version of a file's bytes to the kernel: device, inode, size, and the
/// modification and status-change times in nanoseconds. Any write to the file changes its mtime and
/// its ctime; <c>touch -r</c> can set the mtime back but not the ctime (only the kernel sets it,
/// to now, on every change of data or metadata); a copy is a new inode with a new ctime.
/// <code>
/// struct statx (256 bytes, little-endian on x64)    offset
///   u64 stx_ino                                         32
///   u64 stx_size                                        40
///   statx_timestamp stx_ctime {s64 sec; u32 nsec}       96
///   statx_timestamp stx_mtime {s64 sec; u32 nsec}      112
///   u32 stx_dev_major, stx_dev_minor                   136, 140
/// </code>
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode, long Size, long ModifiedNs, long ChangedNs)
{
    private const int StatxSize = 256;

    /// <summary>The file's identity, or null when it cannot be read (missing, no permission).</summary>
    public static unsafe FileIdentity? Of(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (LibC.statx(LibC.AtFdCwd, path, 0, LibC.StatxBasicStats, buffer) != 0)
        {
            return null;
        }

        var s = new ReadOnlySpan<byte>(buffer, StatxSize);
        return new FileIdentity(
            Device: ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(s[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(s[140..]),
            Inode: BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
            Size: BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
            ModifiedNs: Nanoseconds(s[112..]),
            ChangedNs: Nanoseconds(s[96..]));
    }

    /// <summary>The time the file last changed in any way (ctime), for the "racily clean" check.</summary>
    public DateTime Changed => DateTime.UnixEpoch.AddTicks(ChangedNs / 100);

    public override string ToString() =>
        FormattableString.Invariant($"dev {Device} ino {Inode} size {Size} mtime {ModifiedNs} ctime {ChangedNs}");

    private static long Nanoseconds(ReadOnlySpan<byte> timestamp) =>
        (BinaryPrimitives.ReadInt64LittleEndian(timestamp) * 1_000_000_000L) + BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]);
}
