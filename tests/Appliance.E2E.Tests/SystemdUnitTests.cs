using System.Diagnostics;

namespace Appliance.E2E.Tests;

/// <summary>The unit files in scripts/systemd pass <c>systemd-analyze verify</c> (with ExecStart
/// pointed at the binary under test, since verify checks the executable exists).</summary>
public sealed class SystemdUnitTests
{
    public static TheoryData<string> Units => new() { "cube-node.service", "cube-transfer.service", "cube-engine.service" };

    [Theory]
    [MemberData(nameof(Units))]
    public void UnitPassesSystemdAnalyzeVerify(string unit)
    {
        var text = File.ReadAllText(Path.Combine(TestData.RepositoryRoot, "scripts", "systemd", unit));
        Assert.Contains("Restart=on-failure", text);
        Assert.Contains("NoNewPrivileges=yes", text);
        Assert.Contains("ProtectSystem=strict", text);
        Assert.Contains("StateDirectory=", text);
        Assert.Contains("Type=notify", text);
        // The service user checks exactly what it is about to run (a token it cannot read is named
        // before the unit starts, not in a restart loop).
        var start = text.Split('\n').Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        var check = text.Split('\n').Single(l => l.StartsWith("ExecStartPre=", StringComparison.Ordinal));
        Assert.Equal(start.Replace("ExecStart=/usr/local/bin/cube run ", "ExecStartPre=/usr/local/bin/cube run --check ", StringComparison.Ordinal), check);
        using var dir = new TempDirectory();
        var copy = dir.Combine(unit);
        File.WriteAllText(copy, text.Replace("/usr/local/bin/cube", CubeProcess.BinaryPath, StringComparison.Ordinal));
        var info = new ProcessStartInfo("systemd-analyze", ["verify", copy]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000));
        Assert.True(process.ExitCode == 0 && errors.Trim().Length == 0, $"systemd-analyze verify {unit}: exit {process.ExitCode}\n{errors}");
    }

    /// <summary>The units' hardening keeps systemd-analyze's exposure score low
    /// (6.5-6.6 MEDIUM before this issue), and what Documentation= names is put there by
    /// scripts/install.sh, which also puts the engine's libraries beside the binary.</summary>
    [Theory]
    [MemberData(nameof(Units))]
    public void UnitsAreHardenedAndTheInstallPutsTheirDocumentationInPlace(string unit)
    {
        var path = Path.Combine(TestData.RepositoryRoot, "scripts", "systemd", unit);
        var security = ExternalTool.Run("systemd-analyze", "systemd", ["security", "--offline=true", path]);
        var score = System.Text.RegularExpressions.Regex.Match(security.Stdout + security.Stderr, @"Overall exposure level for \S+: (\d+\.\d)");
        Assert.True(score.Success, security.Stdout + security.Stderr);
        Assert.True(double.Parse(score.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) <= 2.0, $"{unit}: exposure {score.Groups[1].Value}");

        using var dir = new TempDirectory();
        var install = ExternalTool.Run(Path.Combine(TestData.RepositoryRoot, "scripts", "install.sh"), "bash", [Path.GetDirectoryName(CubeProcess.BinaryPath)!],
            environment: new Dictionary<string, string> { ["DESTDIR"] = dir.Path }, timeout: TimeSpan.FromMinutes(1));
        Assert.True(install.ExitCode == 0, install.Stdout + install.Stderr);
        var documentation = File.ReadAllLines(path).Single(l => l.StartsWith("Documentation=file://", StringComparison.Ordinal))["Documentation=file://".Length..];
        Assert.True(File.Exists(dir.Path + documentation), $"{unit}: Documentation={documentation} is not installed");
        Assert.True(File.Exists(Path.Combine(dir.Path, "etc", "systemd", "system", unit)));
        Assert.True(File.Exists(Path.Combine(dir.Path, "usr", "local", "bin", "libonnxruntime.so")));
        var version = ExternalTool.Run(Path.Combine(dir.Path, "usr", "local", "bin", "cube"), "(scripts/install.sh)", ["--version"]);
        Assert.StartsWith("cube ", version.Stdout, StringComparison.Ordinal);
    }
}
