using System.Net.Http.Headers;

namespace Appliance.E2E.Tests;

/// <summary>A peer sending the same failing command 40 times
/// costs one warning line, and the next one after the interval says how many were held back.</summary>
public sealed class LogRepeatTests
{
    private const string Token = "log-repeat-token-0123456789";

    [Fact]
    public async Task IdenticalFailuresAreLoggedOncePerIntervalWithTheCount()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("token"), Token + "\n");
        using var agent = ServerProcess.Start("run", "--roles", "server,agent", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0",
            "--data-dir", dir.Combine("node"), "--dict", "emb", "--shard", "0", "--transfer", "http://127.0.0.1:9", "--token-file", dir.Combine("token"),
            "--log-repeat-seconds", "2");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        async Task Activate()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{agent.HttpPort}/agent/activate")
            {
                Content = new StringContent("{\"version\":\"101\",\"base\":\"100\",\"mode\":\"base\"}", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await http.SendAsync(request);
            Assert.Contains("\"ok\": false", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        for (var i = 0; i < 40; i++)
        {
            await Activate();
        }

        await Task.Delay(2500);
        await Activate();
        await Task.Delay(500); // let the line reach the test's reader
        var refusals = agent.Output.Split('\n').Where(l => l.Contains("agent: activating 100_101 failed", StringComparison.Ordinal)).ToList();
        Assert.True(refusals.Count == 2, agent.Output);
        Assert.Contains("[39 identical message(s) held back]", refusals[1], StringComparison.Ordinal);
    }
}
