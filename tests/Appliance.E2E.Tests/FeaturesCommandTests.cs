namespace Appliance.E2E.Tests;

public sealed class FeaturesCommandTests
{
    [Fact]
    public void PrintsDenseValuesAndPaddleKeysPerLineAndMarksBadLines()
    {
        using var dir = new TempDirectory();
        var sample = TestData.CriteoSample;
        var lines = File.ReadAllLines(sample).Take(3).Append("1\tnot\ta sample").ToArray();
        File.WriteAllLines(dir.Combine("in.txt"), lines);
        var r = CubeProcess.Run(dir.Path, "features", "--hash", "paddle", "in.txt");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(4, r.Lines.Length);
        var (dense, keys) = (r.Lines[0].Split('\t')[0], r.Lines[0].Split('\t')[1]);
        Assert.Equal("0 0.053067993 0.5 0.1 0.1134375 0.874 0.01 0.08 0.028 0 0.1 0 0.12", dense);
        Assert.StartsWith("230803 391755 58292 139510 286835 25207 ", keys);
        Assert.EndsWith(" 509688 901646 833795", keys);
        Assert.StartsWith("ERROR\t3 fields", r.Lines[3]);
        Assert.Contains("in.txt: line 4: 3 fields", r.Stderr);
    }

    [Fact]
    public void TheModelPackageDecidesHashAndNormalisation()
    {
        using var dir = new TempDirectory();
        var sample = TestData.CriteoSample;
        File.WriteAllLines(dir.Combine("in.txt"), File.ReadAllLines(sample).Take(1));
        var diff = Enumerable.Repeat(10f, 13).ToArray();
        Appliance.Core.Engine.ModelPackage.Write(dir.Combine("model"), Appliance.Core.Engine.DenseNetwork.Random(1, hidden: 4, hiddenLayers: 1),
            new Appliance.Core.Engine.ModelSpec { Dict = "emb", Hash = "xxh64", DenseMin = new float[13], DenseDiff = diff }, "1");
        var r = CubeProcess.Run(dir.Path, "features", "--model", "model", "in.txt").Ok();
        var (dense, keys) = (r.Lines[0].Split('\t')[0], r.Lines[0].Split('\t')[1]);
        Assert.StartsWith("0 2.9 5 0.5 726 43.7 ", dense); // (x - 0) / 10
        Assert.StartsWith($"{Appliance.Core.Features.FeatureHasher.Xxh64Key(0, "5a9ed9b0")} ", keys);
    }

    /// <summary>A 3,000,000-character token put the xxh64 hash on the stack
    /// (exit 139). It is hashed from the heap, and gives the key of its bytes.</summary>
    [Fact]
    public void AThreeMillionCharacterTokenIsHashedNotACrash()
    {
        using var dir = new TempDirectory();
        var fields = File.ReadAllLines(TestData.CriteoSample)[0].Split('\t');
        var token = new string('a', 3_000_000);
        fields[^26] = token;
        File.WriteAllText(dir.Combine("in.txt"), string.Join('\t', fields) + "\n");
        var r = CubeProcess.Run(dir.Path, "features", "--hash", "xxh64", "in.txt").Ok();
        var bytes = new byte[1 + token.Length];
        System.Text.Encoding.ASCII.GetBytes(token, bytes.AsSpan(1));
        Assert.StartsWith($"{System.IO.Hashing.XxHash64.HashToUInt64(bytes)} ", r.Lines[0].Split('\t')[1]);
    }
}
