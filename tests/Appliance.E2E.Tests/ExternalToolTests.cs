namespace Appliance.E2E.Tests;

/// <summary>A tool that hangs fails its test with where it hung: each Python process of the tree
/// prints its stacks (SIGABRT, PYTHONFAULTHANDLER) before the tree is killed.</summary>
public sealed class ExternalToolTests
{
    [Fact]
    public void AProgramPastItsLimitPrintsWhereEachOfItsProcessesWaits()
    {
        const string Child = "import time\ndef child_waits_here():\n    time.sleep(120)\nchild_waits_here()\n";
        var parent = $"import subprocess, sys\ndef parent_waits_here():\n    subprocess.run([sys.executable, '-c', {System.Text.Json.JsonSerializer.Serialize(Child)}])\nparent_waits_here()\n";
        var started = DateTime.UtcNow;
        var e = Assert.Throws<TimeoutException>(() => ExternalTool.Run("/usr/bin/python3", "python3", ["-c", parent], timeout: TimeSpan.FromSeconds(3)));
        Assert.Contains("parent_waits_here", e.Message);
        Assert.Contains("child_waits_here", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(60), "the tree was not ended");
    }
}
