using System.Globalization;
using Appliance.Core.Client;

namespace Appliance.E2E.Tests;

/// <summary>
/// retain_versions end to end, with real processes (a transfer, 2 shards × 2 replicas of
/// server+agent): after twelve patches on a base with <c>retain_versions: 3</c>, the agents no
/// longer hold the oldest patches' packages (folded into the base package), a rollback to a
/// retained version serves exactly that version over the wire, one older than the window is
/// refused by the transfer with the reason and changes nothing, and agents killed and restarted
/// come back on the pinned version from what is left on their disks, exactly.
/// </summary>
public sealed class RetentionTests
{
    [Fact]
    public async Task OldPatchesLeaveTheAgentsAndEveryRetainedVersionStillRollsBackExactly()
    {
        using var plane = new ControlPlane(rows: 20_000, "retain_versions: 3");
        var keys = ControlPlane.Keys(2000, 51);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");
        var states = new Dictionary<string, Dictionary<ulong, byte[]>>();
        var random = new Random(51);
        for (var p = 101; p <= 112; p++)
        {
            // 10 % of the base per patch: every merge folds the base in.
            plane.Publish(p.ToString(CultureInfo.InvariantCulture), keys.OrderBy(_ => random.Next()).Take(200), patchOf: "100");
            plane.WaitActive($"100_{p}");
            states[$"100_{p}"] = plane.Expected;
        }

        await using (var client = new CubeClient(plane.ClientConf()))
        {
            await plane.AssertServesExpected(client);
        }

        // Every agent dropped the packages of the patches its base package holds now.
        foreach (var agent in plane.Agents.SelectMany(r => r))
        {
            var server = WaitForPromotion(plane, agent);
            var held = server.GetProperty("anchored_patches").GetInt32();
            Assert.InRange(held, 1, 10); // never past the oldest retained version (110)
            var dataDir = Path.Combine(plane.Directory.Path, $"agent{server.GetProperty("shard").GetInt32()}{AgentReplica(plane, agent)}");
            var onDisk = Directory.GetDirectories(dataDir, "100_*").Select(Path.GetFileName).Order().ToList();
            Assert.Equal([.. new[] { "100_100" }.Concat(Enumerable.Range(101 + held, 12 - held).Select(p => $"100_{p}"))], onDisk);
        }

        // Older than the window: refused by the transfer, nothing changes.
        var tooOld = plane.Operator("rollback", "100_103");
        Assert.Equal(1, tooOld.ExitCode);
        Assert.Contains("older than the versions kept roll-backable (retain_versions: 3; the oldest of its lineage is 100_110)", tooOld.Stderr);
        Assert.Equal("100_112", plane.TransferStatus().GetProperty("current_version").GetString());

        // Inside it: exactly that version, over the wire.
        var back = plane.Operator("rollback", "100_110");
        Assert.True(back.ExitCode == 0, back.Stderr + back.Stdout);
        plane.Expected = states["100_110"];
        await using (var client = new CubeClient(plane.ClientConf()))
        {
            await plane.AssertServesExpected(client);
        }

        // Restarted, every agent comes back on the pinned version from what is left on its disk,
        // and keeps the retention floor the transfer last sent (ACTIVE.json), not "keep all".
        var floors = new[] { (0, 0), (0, 1), (1, 0), (1, 1) }.ToDictionary(a => a, a => RetainFrom(plane, a.Item1, a.Item2));
        Assert.All(floors.Values, f => Assert.NotNull(f));
        foreach (var (shard, replica) in new[] { (0, 0), (0, 1), (1, 0), (1, 1) })
        {
            plane.RestartAgent(shard, replica);
        }

        foreach (var (shard, replica) in new[] { (0, 0), (0, 1), (1, 0), (1, 1) })
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (plane.AgentStatus(shard, replica).GetProperty("live_version").GetString() != "100_110" && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }

            Assert.Equal("100_110", plane.AgentStatus(shard, replica).GetProperty("live_version").GetString());
            Assert.Equal(floors[(shard, replica)], RetainFrom(plane, shard, replica));
        }

        await using (var client = new CubeClient(plane.ClientConf()))
        {
            await plane.AssertServesExpected(client);
        }

        Assert.Equal(0, plane.Operator("unpin").ExitCode);
        plane.Expected = states["100_112"];
        await using (var client = new CubeClient(plane.ClientConf()))
        {
            var forward = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (plane.TransferStatus().GetProperty("current_version").GetString() != "100_112" && DateTime.UtcNow < forward)
            {
                Thread.Sleep(100);
            }

            await plane.AssertServesExpected(client);
        }
    }

    /// <summary>The agent's server section once a fold was promoted (merges run in the background).</summary>
    private static System.Text.Json.JsonElement WaitForPromotion(ControlPlane plane, ServerProcess agent)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var server = plane.Get($"http://127.0.0.1:{agent.HttpPort}/status").GetProperty("server");
            if (server.GetProperty("anchored_patches").GetInt32() > 0 || DateTime.UtcNow > deadline)
            {
                Assert.Equal(0, server.GetProperty("promotion_failures").GetInt64());
                return server;
            }

            Thread.Sleep(100);
        }
    }

    private static int AgentReplica(ControlPlane plane, ServerProcess agent) =>
        plane.Agents.Select(r => Array.IndexOf(r, agent)).First(i => i >= 0);

    private static string? RetainFrom(ControlPlane plane, int shard, int replica) =>
        plane.Get($"http://127.0.0.1:{plane.Agents[shard][replica].HttpPort}/status").GetProperty("server").GetProperty("retain_from").GetString();
}
