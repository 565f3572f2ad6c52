namespace Appliance.E2E.Tests;

/// <summary>docs/deploy.md followed literally, end to end, on loopback: scripts/deploy-smoke.sh
/// (four serving hosts, the transfer, a trainer's base and patch, rollback/pin/unpin, the engine
/// from `cube conf client`, cube predict, cube status).</summary>
public sealed class DeploySmokeTests
{
    [Fact]
    public void TheDeployGuideWorksAsWritten()
    {
        var script = Path.Combine(TestData.RepositoryRoot, "scripts", "deploy-smoke.sh");
        var r = ExternalTool.Run("bash", "bash", [script], timeout: TimeSpan.FromMinutes(5), environment: new Dictionary<string, string> { ["CUBE_BIN"] = CubeProcess.BinaryPath });
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{r.Stdout}{r.Stderr}");
        Assert.Contains("4/4 replicas up, 0 behind, 0 down; 1/1 engines ready", r.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("deploy-smoke: every step of docs/deploy.md worked", r.Stdout.TrimEnd(), StringComparison.Ordinal);
    }
}
