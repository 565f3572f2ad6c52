using System.Globalization;

namespace Appliance.E2E.Tests;

/// <summary>The storage tools through the real binary: kv gen → kv from-text → build (base and
/// delta) → lookup, the original builder's flags, and bad input.</summary>
public sealed class StorageCommandTests
{
    [Fact]
    public void TextToPackagesToLookupWithBaseAndDelta()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "20000", "--dim", "4", "--seed", "1", "--out", "base.txt").Ok();
        var fromText = CubeProcess.Run(dir.Path, "kv", "from-text", "base.txt", "data", "--id", "100", "--parts", "3").Ok();
        Assert.Contains("wrote 20000 record(s)", fromText.Stdout);
        var donefile = File.ReadAllText(dir.Combine("data", "donefile", "base.txt"));
        Assert.Equal($"{{\"id\": \"100\", \"key\": \"100\", \"input\": \"{dir.Combine("data", "100", "base")}\"}}\n", donefile);
        CubeProcess.Run(dir.Path, "build", "--donefile", "data/donefile/base.txt", "--output", "out", "--dict", "emb", "--shards", "3", "--value-codec", "f32").Ok();
        Assert.True(Directory.Exists(dir.Combine("out", "100_100", "emb_part2")));

        // A patch: 50 rows of the base with new values, plus one new key.
        var baseRows = File.ReadAllLines(dir.Combine("base.txt"));
        var patchRows = baseRows.Take(50).Select(l => l.Split('\t')[0] + "\t9 9 9 9").Append("7\t1 2 3 4").ToArray();
        File.WriteAllLines(dir.Combine("patch.txt"), patchRows);
        CubeProcess.Run(dir.Path, "kv", "from-text", "patch.txt", "data", "--id", "101", "--patch-of", "100").Ok();
        CubeProcess.Run(dir.Path, "build", "--donefile", "data/donefile/patch.txt", "--output", "out", "--dict", "emb", "--shards", "3", "--value-codec", "f32").Ok();
        Assert.True(Directory.Exists(dir.Combine("out", "100_101")));

        var keys = baseRows.Skip(25).Take(50).Select(l => l.Split('\t')[0]).Append("7").Append("8").ToArray();
        var lookup = CubeProcess.Run(dir.Path, ["lookup", "--data", "out", "--dict", "emb", "--floats", .. keys]).Ok();
        var expected = baseRows.Skip(25).Take(50).Select((l, i) =>
        {
            var parts = l.Split('\t');
            return i < 25 ? $"{parts[0]}\t9 9 9 9" : $"{parts[0]}\t{Normalise(parts[1])}";
        }).Append("7\t1 2 3 4").Append("8\tMISSING");
        Assert.Equal(expected, lookup.Lines);

        var hex = CubeProcess.Run(dir.Path, "lookup", "--data", "out", "--dict", "emb", "7").Ok();
        Assert.Equal("7\t0000803f000000400000404000008040", hex.Stdout.Trim());
        var stdin = CubeProcess.RunWithInput(dir.Path, "7\n8\n", "lookup", "--data", "out", "--dict", "emb", "-").Ok();
        Assert.Equal(["7\t0000803f000000400000404000008040", "8\tMISSING"], stdin.Lines);
    }

    [Fact]
    public void OriginalBuilderFlagsStillWork()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "1000", "--out", "t.txt").Ok();
        CubeProcess.Run(dir.Path, "kv", "from-text", "t.txt", "data", "--id", "555").Ok();
        var input = dir.Combine("data", "555", "base");
        CubeProcess.Run(dir.Path, "build", $"-input_path={input}", $"-output_path={dir.Combine("out")}", "-shard_num=2", "-dict_name=test",
            "-job_mode=base", "-cur_version=555", "-depend_version=555", "-only_build=false").Ok();
        CubeProcess.Run(dir.Path, "build", $"-input_path={input}", $"-output_path={dir.Combine("out")}", "-shard_num=2", "-dict_name=test",
            "-job_mode=delta", "-cur_version=556", "-depend_version=555", "-last_version=555", "-only_build=false").Ok();
        Assert.True(Directory.Exists(dir.Combine("out", "555_555", "test_part1")));
        Assert.True(Directory.Exists(dir.Combine("out", "555_556", "test_part0")));
        var unknown = CubeProcess.Run(dir.Path, "build", "-bogus_flag=1");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown cube-builder flag -bogus_flag", unknown.Stderr);
    }

    [Fact]
    public void OriginalToolFileIsDumped()
    {
        using var dir = new TempDirectory();
        // kvtool.py output for (1, "abc") and (258, 1.0f), sync bytes 00..0f.
        var hex = "53455106" + "22" + Convert.ToHexStringLower("org.apache.hadoop.io.BytesWritable"u8) + "22" + Convert.ToHexStringLower("org.apache.hadoop.io.BytesWritable"u8)
            + "000000000000" + "000102030405060708090a0b0c0d0e0f"
            + "0000000b" + "00000008" + "0100000000000000" + "616263"
            + "0000000c" + "00000008" + "0201000000000000" + "0000803f";
        File.WriteAllBytes(dir.Combine("feature"), Convert.FromHexString(hex));
        var dump = CubeProcess.Run(dir.Path, "kv", "dump", "feature").Ok();
        Assert.Equal(["1\t616263", "258\t0000803f"], dump.Lines);
        Assert.Contains("2 record(s), key encoding RawLittleEndian", dump.Stderr);
    }

    [Theory]
    [InlineData("bad magic", "534551", "offset 0: bad magic")]
    [InlineData("truncated", "trunc", "truncated")]
    public void BadInputExitsOneNamingTheFileAndLeavesNothing(string name, string kind, string expected)
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "100", "--out", "t.txt").Ok();
        CubeProcess.Run(dir.Path, "kv", "from-text", "t.txt", "data", "--id", "1").Ok();
        var file = dir.Combine("data", "1", "base", "part-00000");
        var bytes = File.ReadAllBytes(file);
        if (kind == "trunc")
        {
            bytes = bytes[..^3];
        }
        else
        {
            bytes[2] = (byte)'X';
        }

        File.WriteAllBytes(file, bytes);
        var build = CubeProcess.Run(dir.Path, "build", "--input", "data/1/base", "--output", "out", "--dict", "d", "--shards", "2", "--version", "1");
        Assert.True(build.ExitCode == 1, name);
        Assert.Contains($"{file}: offset", build.Stderr);
        Assert.Contains(expected, build.Stderr);
        Assert.False(Directory.Exists(dir.Combine("out")) && Directory.EnumerateFileSystemEntries(dir.Combine("out")).Any());
    }

    [Fact]
    public void UsageErrorsExitTwoNamingTheFlag()
    {
        using var dir = new TempDirectory();
        var r = CubeProcess.Run(dir.Path, "build", "--input", "x", "--shardz", "2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option --shardz", r.Stderr);
        r = CubeProcess.Run(dir.Path, "build", "--input", "x", "--output", "o", "--shards", "2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("option --dict is required", r.Stderr);
        r = CubeProcess.Run(dir.Path, "build", "--input", "x", "--output", "o", "--dict", "d", "--shards", "zero");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("option --shards: 'zero' is not an integer", r.Stderr);
        r = CubeProcess.Run(dir.Path, "frobnicate");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(0, CubeProcess.Run(dir.Path, "build", "--help").ExitCode);
    }

    [Fact]
    public void DonefileLineThatIsNotJsonIsNamed()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("donefile"));
        File.WriteAllText(dir.Combine("donefile", "base.txt"), "{\"id\":\"1\",\"key\":\"1\",\"input\":\"/x\"}\n{oops\n");
        var r = CubeProcess.Run(dir.Path, "build", "--donefile", "donefile/base.txt", "--output", "o", "--dict", "d", "--shards", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("donefile/base.txt: line 2: not JSON", r.Stderr);
    }

    [Fact]
    public void CorruptPackageIsNamedByLookup()
    {
        using var dir = new TempDirectory();
        CubeProcess.Run(dir.Path, "kv", "gen", "--keys", "100", "--key-range", "1000", "--out", "t.txt").Ok();
        CubeProcess.Run(dir.Path, "build", "--input", "t.txt", "--input-format", "text", "--output", "out", "--dict", "d", "--shards", "1", "--version", "3").Ok();
        var values = dir.Combine("out", "3_3", "d_part0", "values.bin");
        var bytes = File.ReadAllBytes(values);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(values, bytes);
        var r = CubeProcess.Run(dir.Path, "lookup", "--data", "out", "--dict", "d", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{values}: whole file: checksum mismatch", r.Stderr);
    }

    private static string Normalise(string floats) =>
        string.Join(' ', floats.Split(' ').Select(f => float.Parse(f, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture)));
}
