using System.Globalization;
using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>A day of patches in miniature, through the real transfer and agents: ten patches of
/// overlapping keys on a base (each 10 % of its keys, over the default --fold-at 5) leave every
/// replica probing at most the base or folded base, a merged layer and one patch (the default
/// --merge-after 1), with the newest value for every key, the base folded at least once; a
/// rollback onto a long lineage (loaded whole, folded before it goes live) serves exactly that
/// version, key by key.</summary>
public sealed class PatchMergeE2ETests
{
    [Fact]
    public void TenPatchesAreServedFromAFewLayersWithTheNewestValuesAndRollBackExactly()
    {
        using var plane = new ControlPlane(rows: 2_000);
        var baseKeys = ControlPlane.Keys(2_000, seed: 21);
        plane.Publish("100", baseKeys);
        plane.WaitActive("100_100");
        var random = new Random(5);
        var touched = new HashSet<ulong>();
        Dictionary<ulong, byte[]>? atPatch7 = null;
        for (var p = 1; p <= 10; p++)
        {
            // Half the keys of each patch overwrite base keys, half are new.
            var keys = baseKeys.OrderBy(_ => random.Next()).Take(100).Concat(ControlPlane.Keys(100, seed: 100_000 + (p * 1000))).Distinct().ToArray();
            touched.UnionWith(keys);
            var id = (100 + p).ToString(CultureInfo.InvariantCulture);
            plane.Publish(id, keys, patchOf: "100");
            plane.WaitActive($"100_{id}");
            if (p == 7)
            {
                atPatch7 = new Dictionary<ulong, byte[]>(plane.Expected);
            }
        }

        File.WriteAllText(plane.Directory.Combine("cube.conf"), plane.ClientConfJson());
        var sample = touched.Take(300).Concat(baseKeys.Take(100)).Distinct().ToList();
        AssertEveryReplica(plane, "100_110", lineage: 11);
        AssertServes(plane, plane.Expected, sample, "after 10 patches");

        var rollback = CubeProcess.Run(plane.Directory.Path, "transfer", "rollback", "100_107", "--transfer", $"http://127.0.0.1:{plane.TransferPort}", "--token-file", plane.Directory.Combine("token"));
        Assert.True(rollback.ExitCode == 0, rollback.Stdout + rollback.Stderr);
        AssertEveryReplica(plane, "100_107", lineage: 8);
        AssertServes(plane, atPatch7!, sample, "rolled back to patch 7");
    }

    private static void AssertEveryReplica(ControlPlane plane, string label, int lineage)
    {
        foreach (var replica in plane.Agents.SelectMany(r => r))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            JsonElement server;
            while (true)
            {
                server = plane.Get($"http://127.0.0.1:{replica.HttpPort}/status").GetProperty("server");
                if ((server.GetProperty("live_version").GetString() == label && server.GetProperty("read_layers").GetInt32() <= 3) || DateTime.UtcNow > deadline)
                {
                    break;
                }

                Thread.Sleep(100);
            }

            Assert.Equal(label, server.GetProperty("live_version").GetString());
            Assert.Equal(lineage, server.GetProperty("layers").GetArrayLength()); // the versions served
            Assert.InRange(server.GetProperty("read_layers").GetInt32(), 1, 3); // what a lookup probes
            Assert.True(server.GetProperty("merges").GetInt64() >= 1, server.ToString());
            Assert.True(server.GetProperty("folds").GetInt64() >= 1, server.ToString());
            Assert.InRange(server.GetProperty("folded_patches").GetInt32(), 1, lineage - 1);
            var merges = plane.GetText($"http://127.0.0.1:{replica.HttpPort}/metrics").Split('\n').Single(l => l.StartsWith("cube_server_merge_duration_seconds_count", StringComparison.Ordinal));
            Assert.True(long.Parse(merges.Split(' ')[^1], CultureInfo.InvariantCulture) >= 1, merges);
            Assert.True(server.GetProperty("merge_failures").GetInt64() == 0, server.ToString()); // with last_merge_error
        }
    }

    private static void AssertServes(ControlPlane plane, Dictionary<ulong, byte[]> expected, List<ulong> keys, string context)
    {
        var looked = CubeProcess.Run(plane.Directory.Path, ["lookup", "--conf", "cube.conf", .. keys.Select(k => k.ToString(CultureInfo.InvariantCulture))]).Ok();
        var answers = looked.Lines.Where(l => l.Length > 0).Select(l => l.Split('\t')).ToDictionary(f => ulong.Parse(f[0], CultureInfo.InvariantCulture), f => f[1]);
        foreach (var key in keys)
        {
            var want = expected.TryGetValue(key, out var v) ? Convert.ToHexStringLower(v) : "MISSING";
            Assert.True(answers.TryGetValue(key, out var got) && got.StartsWith(want, StringComparison.Ordinal), $"{context}: key {key} = {got}, expected {want}");
        }
    }
}
