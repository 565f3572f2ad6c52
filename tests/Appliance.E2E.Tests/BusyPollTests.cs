using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary><c>--busy-poll-us</c>: a client that comes straight back (one request in flight at a
/// time) is read by polling, counted as hits, and answered exactly as without; off (the default),
/// nothing polls.</summary>
public sealed class BusyPollTests(ClusterFixture table) : IClassFixture<ClusterFixture>
{
    [Theory]
    [InlineData("0")]
    [InlineData("200")]
    public async Task APingPongClientIsAnsweredTheSameAndPollsOnlyWhenAsked(string micros)
    {
        using var server = ServerProcess.StartServer(table.Packages, ClusterFixture.Dict, 0, "--busy-poll-us", micros);
        await using var client = new CubeClient(ClusterFixture.Conf([[server]]));
        var keys = table.Reference.Keys.Where(k => k % 2 == 0).Take(300).ToArray();
        foreach (var key in keys)
        {
            using var result = await client.LookupAsync(ClusterFixture.Dict, new[] { key });
            Assert.Equal(KeyStatus.Found, result.Status[0]);
            Assert.True(result.Value(0).SequenceEqual(table.Reference[key]));
        }

        // A lean client with one request in flight: it comes back within microseconds of a reply.
        using var work = new TempDirectory();
        CubeProcess.Run(work.Path, "bench", "lookup", "--raw", "--address", $"127.0.0.1:{server.DataPort}", "--dict", ClusterFixture.Dict,
            "--key-range", "1000000", "--connections", "1", "--pipeline", "1", "--duration", "1", "--warmup", "0").Ok();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/metrics");
        double Polls(string outcome) => double.Parse(
            metrics.Split('\n').Single(l => l.StartsWith($"cube_server_busy_polls_total{{dict=\"emb\",shard=\"0\",outcome=\"{outcome}\"}}", StringComparison.Ordinal)).Split(' ')[1],
            System.Globalization.CultureInfo.InvariantCulture);
        if (micros == "0")
        {
            Assert.Equal(0, Polls("hit") + Polls("miss"));
        }
        else
        {
            Assert.True(Polls("hit") > 0, "a client that came straight back was never read by polling");
        }
    }
}
