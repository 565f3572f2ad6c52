namespace Appliance.E2E.Tests;

/// <summary><c>cube package info|verify</c> on a version and a shard: what it holds;
/// sound → exit 0; a flipped byte and a missing shard → exit 1 with the defect named.</summary>
public sealed class PackageCommandTests
{
    [Fact]
    public void InfoShowsWhatAPackageHoldsAndVerifyNamesEachDefect()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("in"));
        File.WriteAllLines(dir.Combine("in", "t.txt"), Enumerable.Range(1, 300).Select(k => $"{k}\t{k} 0.5 0.25"));
        CubeProcess.Run(dir.Path, "build", "--input", "in", "--output", "out", "--dict", "emb", "--shards", "2", "--version", "100", "--input-format", "text", "--value-codec", "f16").Ok();
        var version = dir.Combine("out", "100_100");

        var info = CubeProcess.Run(dir.Path, "package", "info", version).Ok().Stdout;
        Assert.Contains("dict emb  shard 1 of 2  version 100 (base)", info, StringComparison.Ordinal);
        Assert.Contains("codec f16  dimension 3  keys 150", info, StringComparison.Ordinal);
        Assert.Contains("xxh128 ", info, StringComparison.Ordinal);
        Assert.Contains(": sound", CubeProcess.Run(dir.Path, "package", "verify", version).Ok().Stdout, StringComparison.Ordinal);

        var values = Path.Combine(version, "emb_part1", "values.bin");
        var bytes = File.ReadAllBytes(values);
        bytes[100] ^= 1;
        File.WriteAllBytes(values, bytes);
        var flipped = CubeProcess.Run(dir.Path, "package", "verify", version);
        Assert.Equal(1, flipped.ExitCode);
        Assert.Contains("checksum mismatch", flipped.Stderr, StringComparison.Ordinal);
        Assert.Contains("ok     " + Path.Combine(version, "emb_part0"), flipped.Stdout, StringComparison.Ordinal);

        Directory.Delete(Path.Combine(version, "emb_part1"), recursive: true);
        var missing = CubeProcess.Run(dir.Path, "package", "verify", version);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("shard 1 of 2 is missing", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, CubeProcess.Run(dir.Path, "package", "check", version).ExitCode);
    }
}
