using System.Net;
using System.Text.Json;
using Appliance.Core.Client;

namespace Appliance.E2E.Tests;

/// <summary>An operator rolls a dict back, pins it,
/// abandons a version and unpins, with `cube transfer` against a running transfer and 2 × 2
/// agents; each action is checked in what the servers answer and in the deploy history.</summary>
public sealed class OperatorControlTests
{
    private static string[] Statuses(JsonElement history) =>
        history.EnumerateArray().Select(v => $"{v.GetProperty("depend").GetString()}_{v.GetProperty("version").GetString()}:{v.GetProperty("status_str").GetString()}").ToArray();

    private static string[] Operations(JsonElement history, string label) =>
        history.EnumerateArray().Last(v => $"{v.GetProperty("depend").GetString()}_{v.GetProperty("version").GetString()}" == label)
            .TryGetProperty("operations", out var ops) ? ops.EnumerateArray().Select(o => o.GetProperty("action").GetString()!).ToArray() : [];

    private static void WaitPolls(ControlPlane plane, int polls)
    {
        var target = plane.TransferStatus().GetProperty("polls").GetInt64() + polls;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (plane.TransferStatus().GetProperty("polls").GetInt64() < target && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
    }

    [Fact]
    public async Task RollbackPinsTheOldValuesAbandonSkipsTheBadPatchAndUnpinRollsForward()
    {
        using var plane = new ControlPlane();
        var baseKeys = ControlPlane.Keys(5000, 11);
        plane.Publish("100", baseKeys);
        plane.WaitActive("100_100");
        var baseValues = plane.Expected;
        plane.Publish("101", baseKeys.Take(1000).Concat(ControlPlane.Keys(500, 40_000)), patchOf: "100");
        plane.WaitActive("100_101");
        await using var client = new CubeClient(plane.ClientConf());
        await plane.AssertServesExpected(client);

        // Without the token nothing happens.
        File.WriteAllText(plane.Directory.Combine("wrong-token"), "not-the-token-0123456789\n");
        var refused = CubeProcess.Run(plane.Directory.Path, "transfer", "rollback", "--transfer", $"http://127.0.0.1:{plane.TransferPort}", "--token-file", plane.Directory.Combine("wrong-token"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal("100_101", plane.TransferStatus().GetProperty("current_version").GetString());

        // Rollback: every replica serves the base's values again, and the dict is pinned there.
        var rollback = plane.Operator("rollback");
        Assert.True(rollback.ExitCode == 0, rollback.Stderr + rollback.Stdout);
        Assert.Contains("rolled back from 100_101 to 100_100", rollback.Stdout);
        var status = plane.TransferStatus();
        Assert.Equal("100_100", status.GetProperty("current_version").GetString());
        Assert.Equal("100_100", status.GetProperty("pinned").GetString());
        plane.Expected = baseValues;
        await plane.AssertServesExpected(client, ControlPlane.Keys(500, 40_000));
        Assert.All(plane.Agents.SelectMany(r => r), a => Assert.Equal("100", plane.Get($"http://127.0.0.1:{a.HttpPort}/agent/status").GetProperty("live_version").GetString()));

        // Pinned: a new patch is not deployed.
        var patch102 = plane.Publish("102", baseKeys.Skip(2000).Take(1000), patchOf: "100");
        WaitPolls(plane, 3);
        Assert.Equal("100_100", plane.TransferStatus().GetProperty("current_version").GetString());
        Assert.Contains("cube_transfer_pinned{dict=\"emb\"} 1", await plane.Http.GetStringAsync($"http://127.0.0.1:{plane.TransferPort}/metrics"));

        // The live version cannot be abandoned; the rolled-back one can, and leaves the agents.
        var abandonLive = plane.Operator("abandon", "100_100");
        Assert.Equal(1, abandonLive.ExitCode);
        Assert.Contains("is live: roll back first", abandonLive.Stderr);
        var abandon = plane.Operator("abandon", "100_101");
        Assert.True(abandon.ExitCode == 0, abandon.Stderr + abandon.Stdout);
        Assert.DoesNotContain("100_101", plane.AgentStatus(0, 0).GetProperty("staged").EnumerateArray().Select(e => e.GetString()));
        Assert.True(Directory.Exists(plane.Directory.Combine("output", ".abandoned")));

        // Unpin: 102 rolls out on the base alone (101 abandoned), exactly.
        var unpin = plane.Operator("unpin");
        Assert.True(unpin.ExitCode == 0, unpin.Stderr + unpin.Stdout);
        plane.WaitActive("100_102");
        plane.Expected = new Dictionary<ulong, byte[]>(baseValues);
        foreach (var (k, v) in patch102)
        {
            plane.Expected[k] = v;
        }

        await plane.AssertServesExpected(client, ControlPlane.Keys(500, 40_000));
        // The base of the live lineage cannot be abandoned either: its patches stack on it.
        var abandonBase = plane.Operator("abandon", "100_100");
        Assert.Equal(1, abandonBase.ExitCode);
        Assert.Contains("100_100 is the base of the live 100_102", abandonBase.Stderr);
        await plane.AssertServesExpected(client, ControlPlane.Keys(500, 40_000));
        var history = plane.History();
        Assert.Equal(["100_100:superseded", "100_101:abandoned", "100_102:active"], Statuses(history));
        Assert.Equal(["rollback", "unpin"], Operations(history, "100_100").Where(a => a != "redeploy"));
        Assert.Equal(["rolled_back", "abandon"], Operations(history, "100_101"));
        Assert.Null(plane.TransferStatus().GetProperty("pinned").GetString());
    }

    [Fact]
    public void ADonefileLineWithAFutureIdIsLeftBehindByRollbackAndAbandonWithoutEditingTheFile()
    {
        using var plane = new ControlPlane();
        var keys = ControlPlane.Keys(3000, 21);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");
        plane.Publish("9999999999", keys.Take(300), patchOf: "100", seed: 99);
        plane.WaitActive("100_9999999999");
        plane.Publish("101", keys.Skip(300).Take(300), patchOf: "100");
        WaitPolls(plane, 3);
        Assert.Equal("100_9999999999", plane.TransferStatus().GetProperty("current_version").GetString());
        Assert.Contains("id 101 is not newer than id 9999999999 on an earlier line; skipped (if line 2 is right and the earlier one wrong: cube transfer abandon 100_9999999999)", plane.Transfer.Output);

        Assert.Equal(0, plane.Operator("rollback").ExitCode);
        Assert.Equal(0, plane.Operator("abandon", "100_9999999999").ExitCode);
        Assert.Equal(0, plane.Operator("unpin").ExitCode);
        plane.WaitActive("100_101");
        Assert.Equal(["100_100:superseded", "100_9999999999:abandoned", "100_101:active"], Statuses(plane.History()));
    }

    [Fact]
    public void ARollbackToAVersionTheAgentsNoLongerHoldChangesNothing()
    {
        using var plane = new ControlPlane(rows: 20_000, "retain_lineages: 1");
        plane.Publish("100", ControlPlane.Keys(2000, 31));
        plane.WaitActive("100_100");
        plane.Publish("200", ControlPlane.Keys(2000, 32));
        plane.WaitActive("200_200");
        Assert.Equal(["200_200"], plane.AgentStatus(1, 1).GetProperty("staged").EnumerateArray().Select(e => e.GetString()));

        var rollback = plane.Operator("rollback");
        Assert.Equal(1, rollback.ExitCode);
        Assert.Contains("rollback to 100_100 failed and changed nothing", rollback.Stderr);
        Assert.Contains("not staged", rollback.Stderr);
        var status = plane.TransferStatus();
        Assert.Equal("200_200", status.GetProperty("current_version").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("pinned").ValueKind);
        Assert.All(plane.Agents.SelectMany(r => r), a => Assert.Equal("200", plane.Get($"http://127.0.0.1:{a.HttpPort}/agent/status").GetProperty("live_version").GetString()));
        Assert.Equal(["rollback_failed"], Operations(plane.History(), "200_200"));

        // Unknown and malformed versions are named errors.
        var unknown = plane.Operator("rollback", "100_105");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("100_105 is not in the deploy history", unknown.Stderr);
        var malformed = plane.Operator("abandon", "../x");
        Assert.Equal(1, malformed.ExitCode);
        Assert.Contains("is not <base>_<version>", malformed.Stderr);
    }

    [Fact]
    public async Task AbandoningAVersionStuckInStagingStopsItsRolloutAndTheLiveOneKeepsServing()
    {
        using var plane = new ControlPlane(rows: 20_000, "down_policy: wait", "max_attempts: 1000");
        var keys = ControlPlane.Keys(2000, 41);
        plane.Publish("100", keys);
        plane.WaitActive("100_100");
        plane.Agents[1][0].Signal("KILL");
        plane.Agents[1][0].WaitForExit(TimeSpan.FromSeconds(10));

        plane.Publish("101", keys.Take(100), patchOf: "100");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (plane.TransferStatus().GetProperty("in_progress_status").GetString() != "staging" && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }

        Assert.Equal("staging", plane.TransferStatus().GetProperty("in_progress_status").GetString());
        var abandon = plane.Operator("abandon", "100_101");
        Assert.True(abandon.ExitCode == 0, abandon.Stderr + abandon.Stdout);
        Assert.Contains("100_101 abandoned", abandon.Stdout);
        var status = plane.TransferStatus();
        Assert.Equal("100_100", status.GetProperty("current_version").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("in_progress").ValueKind);
        Assert.Contains("stopped at step 'staging' for an operator's abandon", plane.Transfer.Output);

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{plane.TransferPort}/transfer/abandon") { Content = new StringContent("{\"version\": 7}") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ControlPlane.Token);
        using var bad = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"success\": \"255\"", await bad.Content.ReadAsStringAsync());
    }
}
