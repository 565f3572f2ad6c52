using System.Diagnostics;
using System.Globalization;

namespace Appliance.E2E.Tests;

/// <summary>
/// The export contract from a second, independent writer: deploy/k8s/scripts/cube_export.py (what
/// external trainers use) writes a base and a patch; <c>cube build</c> takes them from the
/// donefiles and <c>cube lookup</c> returns exactly the floats Python wrote.
/// </summary>
public sealed class ExportContractTests
{
    private static string Python(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("python3") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(TestData.RepositoryRoot, "deploy", "k8s", "scripts", "cube_export.py"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "python3 cube_export.py did not finish");
        Assert.True(process.ExitCode == 0, $"cube_export.py exit {process.ExitCode}: {error}");
        return output.Trim();
    }

    [Fact]
    public void PythonExportsBuildAndServeTheValuesWritten()
    {
        using var dir = new TempDirectory();
        // 2500 rows cross several of the writer's sync escapes.
        var rows = Enumerable.Range(0, 2500).Select(i => $"{(ulong)i * 7919}:{i * 0.5},{-i},0.25").ToArray();
        var baseId = Python(dir.Path, ["out", .. rows]);
        var patchId = Python(dir.Path, "out", "7919:9,9,9", "123456789:1,2,3", "--patch");
        Assert.True(long.Parse(patchId, CultureInfo.InvariantCulture) > long.Parse(baseId, CultureInfo.InvariantCulture));

        CubeProcess.Run(dir.Path, "build", "--donefile", "out/donefile/base.txt", "--output", "packages", "--dict", "t", "--shards", "2", "--value-codec", "f32").Ok();
        CubeProcess.Run(dir.Path, "build", "--donefile", "out/donefile/patch.txt", "--output", "packages", "--dict", "t", "--shards", "2", "--value-codec", "f32").Ok();
        var lookup = CubeProcess.Run(dir.Path, "lookup", "--data", "packages", "--dict", "t", "--floats", "0", "7919", "15838", "19789581", "123456789", "5").Ok();
        Assert.Equal(
            ["0\t0 0 0.25", "7919\t9 9 9", "15838\t1 -2 0.25", "19789581\t1249.5 -2499 0.25", "123456789\t1 2 3", "5\tMISSING"],
            lookup.Lines);
    }
}
