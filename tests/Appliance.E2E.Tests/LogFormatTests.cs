using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>--log-format json writes one JSON object per event (for journald or
/// Loki) with the event id, level, category and message; a bad value is refused by name.</summary>
public sealed class LogFormatTests
{
    [Fact]
    public void JsonLogsAreOneObjectPerEvent()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("data"));
        string output;
        using (var server = ServerProcess.Start("run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir.Combine("data"), "--dict", "emb", "--log-format", "json"))
        {
            server.Signal("TERM");
            Assert.True(server.WaitForExit(TimeSpan.FromSeconds(20)));
            output = server.Output;
        }

        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Contains(events, e => e.GetProperty("EventId").GetInt32() == 1 && e.GetProperty("Message").GetString()!.StartsWith("ready: ", StringComparison.Ordinal));
        Assert.All(events, e => Assert.True(e.TryGetProperty("LogLevel", out _) && e.TryGetProperty("Category", out _) && e.TryGetProperty("Timestamp", out _)));

        var refused = CubeProcess.Run(dir.Path, "run", "--roles", "server", "--data-dir", dir.Combine("data"), "--dict", "emb", "--log-format", "xml", "--check");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--log-format: 'xml' is not text or json", refused.Stderr, StringComparison.Ordinal);
    }
}
