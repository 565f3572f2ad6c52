using System.IO.Hashing;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// The package file writer, both ways it writes (O_DIRECT with padded, truncated last block; the
/// page cache): whatever mix of Write and Reserve, the file holds exactly the bytes given, in order,
/// and the digest is theirs. Sizes straddle the 4 KiB block and the 1 MiB buffer.
/// </summary>
public sealed class HashingFileWriterTests
{
    public static TheoryData<int, bool> Sizes()
    {
        var data = new TheoryData<int, bool>();
        foreach (var size in new[] { 0, 1, 4095, 4096, 4097, (1 << 20) - 3, 1 << 20, (1 << 20) + 17, (5 << 20) + 123 })
        {
            data.Add(size, true);
            data.Add(size, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TheFileHoldsExactlyTheBytesWritten(int size, bool direct)
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("values.bin");
        var random = new Random(size);
        var expected = new byte[size];
        random.NextBytes(expected);
        FileDigest digest;
        using (var writer = new HashingFileWriter(path, direct ? HashingFileWriter.DirectMinBytes : 0))
        {
            var at = 0;
            while (at < size)
            {
                // Alternate the two ways in: Reserve (up to 64 KiB, filled after it returns) and Write.
                var n = Math.Min(size - at, random.Next(1, 70_000));
                if (random.Next(2) == 0)
                {
                    expected.AsSpan(at, n).CopyTo(writer.Reserve(n));
                }
                else
                {
                    writer.Write(expected.AsSpan(at, n));
                }

                at += n;
                Assert.Equal(at, writer.Position);
            }

            digest = writer.Complete();
        }

        Assert.Equal(expected, File.ReadAllBytes(path));
        Assert.Equal(size, digest.Bytes);
        Assert.Equal(Convert.ToHexStringLower(XxHash128.Hash(expected)), digest.Xxh128);
    }

    [Fact]
    public void AFileThatExistsIsNotOverwritten()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("index.bin");
        File.WriteAllText(path, "keep");
        Assert.Throws<IOException>(() => new HashingFileWriter(path, HashingFileWriter.DirectMinBytes).Dispose());
        Assert.Throws<IOException>(() => new HashingFileWriter(path, 0).Dispose());
        Assert.Equal("keep", File.ReadAllText(path));
    }

    [Fact]
    public void ABuildOutputOnADiskIsWrittenDirect()
    {
        // /tmp may be a tmpfs on some machines (no O_DIRECT there): then this only checks the fallback.
        using var dir = new TempDirectory();
        using var writer = new HashingFileWriter(dir.Combine("v.bin"), HashingFileWriter.DirectMinBytes);
        var tmpfs = File.ReadLines("/proc/mounts").Select(l => l.Split(' ')).Any(f => f.Length > 2 && f[2] == "tmpfs" && dir.Path.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal));
        Assert.Equal(!tmpfs, writer.Direct);
    }
}
