using System.Diagnostics;
using System.Globalization;

namespace Appliance.E2E.Tests;

/// <summary>
/// Faults while a server folds a lineage into its base (it does so before going live when it
/// loads a long lineage whole): SIGKILLed while the folded package is being written, right after
/// it was renamed into place, and after it went live, the restarted server serves the same
/// version, key by key, from one folded layer, with the killed fold's leftovers removed. A disk
/// that fills during the fold leaves the server live on the unmerged lineage, right, with the
/// failure counted and named. Lookups over the wire while patches arrive and are merged and folded
/// never fail and never answer a value no version held.
/// </summary>
public sealed class MergeFaultTests
{
    private const int Keys = 400_000;
    private const int Patches = 10;
    private const int PatchKeys = 40_000; // 10 % of the base: over --fold-at 5, every load folds
    private const string Label = "1000_1010";

    [Fact]
    public void AServerKilledAtEachStepOfAFoldRestartsOnTheSameVersionExactly()
    {
        using var dir = new TempDirectory();
        var expected = BuildLineage(dir);
        var merged = Path.Combine(dir.Combine("out"), ".merged", "emb_part0");
        foreach (var step in new[] { "writing", "renamed", "live" })
        {
            if (step == "live")
            {
                using var live = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);
                live.Signal("KILL");
                Assert.True(live.WaitForExit(TimeSpan.FromSeconds(10)));
            }
            else
            {
                Assert.True(KillAt(dir, merged, step), $"the fold was never seen {step} (leftovers: {string.Join(", ", Leftovers(merged))})");
            }

            using var server = ServerProcess.StartServer(dir.Combine("out"), "emb", 0);
            var s = System.Text.Json.JsonDocument.Parse(Get($"http://127.0.0.1:{server.HttpPort}/status")).RootElement.GetProperty("server");
            Assert.Equal(Label, s.GetProperty("live_version").GetString());
            Assert.Equal(1, s.GetProperty("read_layers").GetInt32());
            Assert.Equal(Patches, s.GetProperty("folded_patches").GetInt32());
            Assert.Equal(0, s.GetProperty("merge_failures").GetInt64());
            Assert.Single(Leftovers(merged)); // the live fold only: the killed one's directories are gone
            AssertServes(dir, server, expected, $"restarted after a kill while the fold was {step}");
        }
    }

    [Fact]
    public void ADiskThatFillsDuringAFoldLeavesTheUnmergedLineageLiveAndTheFailureNamed()
    {
        using var dir = new TempDirectory();
        var expected = BuildLineage(dir);
        // 1 MiB per file: the folded values file (~19 MB) cannot be written.
        using var server = ServerProcess.StartLimited(1024, "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir.Combine("out"), "--dict", "emb", "--shard", "0");
        var s = System.Text.Json.JsonDocument.Parse(Get($"http://127.0.0.1:{server.HttpPort}/status")).RootElement.GetProperty("server");
        Assert.Equal(Label, s.GetProperty("live_version").GetString());
        Assert.Equal(1 + Patches, s.GetProperty("read_layers").GetInt32());
        Assert.Equal(1, s.GetProperty("merge_failures").GetInt64());
        Assert.Contains($"folding {1 + Patches} layers of {Label}", s.GetProperty("last_merge_error").GetString(), StringComparison.Ordinal);
        var metrics = Get($"http://127.0.0.1:{server.HttpPort}/metrics");
        Assert.Contains("cube_server_merge_failures_total{", metrics, StringComparison.Ordinal);
        Assert.Matches(@"cube_server_merge_failures_total\{[^}]*\} 1\n", metrics);
        AssertServes(dir, server, expected, "unmerged after the disk filled");
    }

    /// <summary>Patches arrive while the server serves (it watches its data directory): each is
    /// applied, merged, and every other folded into the base in the background, while a client
    /// looks keys up over the wire the whole time. No answer fails or is missing, every answer is a
    /// value its key held in some version of the lineage, and the last version is served exactly.</summary>
    [Fact]
    public void LookupsWhileTheServerMergesAndFoldsNeverFailNorAnswerWhatNoVersionHeld()
    {
        using var dir = new TempDirectory();
        var held = new Dictionary<ulong, List<float[]>>();
        var expected = BuildLineage(dir, upTo: 0, held);
        using var server = ServerProcess.StartServer(dir.Combine("out"), "emb", 0, "--watch-seconds", "1");
        var keys = expected.Keys.Where((_, i) => i % 131 == 0).Take(3000).ToList();
        var stop = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        var rounds = 0;
        var published = 0;
        var label = "1000";
        while (DateTime.UtcNow < stop && (published < Patches || label != Label))
        {
            if (published < Patches && label == (published == 0 ? "1000" : $"1000_{1000 + published}"))
            {
                published++;
                expected = BuildLineage(dir, upTo: published, held, from: published);
            }

            foreach (var (key, got) in LookUp(dir, server, keys))
            {
                Assert.True(got is not null, $"round {rounds}: key {key} missing or failed while {label} was live");
                Assert.True(held[key].Any(v => Same(v, got!)), $"round {rounds}: key {key} = {string.Join(' ', got!)}, a value no version held");
            }

            rounds++;
            var status = System.Text.Json.JsonDocument.Parse(Get($"http://127.0.0.1:{server.HttpPort}/status")).RootElement.GetProperty("server");
            label = status.GetProperty("live_version").GetString()!;
        }

        Assert.Equal(Label, label);
        var s = System.Text.Json.JsonDocument.Parse(Get($"http://127.0.0.1:{server.HttpPort}/status")).RootElement.GetProperty("server");
        Assert.True(s.GetProperty("folds").GetInt64() >= 1, s.ToString());
        Assert.Equal(0, s.GetProperty("merge_failures").GetInt64());
        Assert.True(rounds >= Patches, $"only {rounds} rounds of lookups over {Patches} patches");
        AssertServes(dir, server, expected, "after the last patch");
    }

    private static bool Same(float[] a, float[] b) => a.Length == b.Length && a.Zip(b).All(v => Math.Abs(v.First - v.Second) < 1e-5);

    /// <summary>Starts a server on the lineage and SIGKILLs it when the fold reaches
    /// <paramref name="step"/>: a temporary directory being written, or the folded package renamed
    /// into place. False if the server went live before the step was seen.</summary>
    private static bool KillAt(TempDirectory dir, string merged, string step)
    {
        var info = new ProcessStartInfo(CubeProcess.BinaryPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir.Combine("out"), "--dict", "emb", "--shard", "0" })
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        var seen = false;
        while (!process.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            var names = Leftovers(merged).Select(Path.GetFileName).ToList();
            seen = step == "writing"
                ? names.Any(n => n!.StartsWith(".tmp-", StringComparison.Ordinal) && File.Exists(Path.Combine(merged, n, "values.bin")))
                : names.Any(n => !n!.StartsWith(".tmp-", StringComparison.Ordinal));
            if (seen)
            {
                process.Kill();
                break;
            }

            Thread.Sleep(1);
        }

        process.WaitForExit(10_000);
        return seen;
    }

    private static string Get(string url)
    {
        using var http = new HttpClient();
        return http.GetStringAsync(url).GetAwaiter().GetResult();
    }

    private static IEnumerable<string> Leftovers(string merged) =>
        Directory.Exists(merged) ? Directory.EnumerateDirectories(merged) : [];

    /// <summary>A base of every key of [0, Keys) and Patches patches of PatchKeys random keys with
    /// new values, built into DIR/out; the newest value of each key (text floats).</summary>
    private static Dictionary<ulong, float[]> BuildLineage(TempDirectory dir) => BuildLineage(dir, Patches, []);

    /// <summary>Versions <paramref name="from"/> to <paramref name="upTo"/> of that lineage built
    /// (0: the base); the newest value of each key over versions 0..upTo, and every value each
    /// key has held into <paramref name="held"/>.</summary>
    private static Dictionary<ulong, float[]> BuildLineage(TempDirectory dir, int upTo, Dictionary<ulong, List<float[]>> held, int from = 0)
    {
        var expected = new Dictionary<ulong, float[]>();
        for (var p = 0; p <= upTo; p++)
        {
            var text = dir.Combine($"p{p}.txt");
            if (p < from)
            {
                Read(text, expected, held: null);
                continue;
            }

            var version = (1000 + p).ToString(CultureInfo.InvariantCulture);
            CubeProcess.Run(dir.Path, "kv", "gen", "--keys", (p == 0 ? Keys : PatchKeys).ToString(CultureInfo.InvariantCulture), "--key-range", Keys.ToString(CultureInfo.InvariantCulture), "--seed", (p + 1).ToString(CultureInfo.InvariantCulture), "--dim", "4", "--out", text).Ok();
            string[] build = ["build", "--input", text, "--input-format", "text", "--output", dir.Combine("out"), "--dict", "emb", "--shards", "1", "--version", version, "--value-codec", "f32"];
            CubeProcess.Run(dir.Path, p == 0 ? build : [.. build, "--mode", "delta", "--base", "1000"]).Ok();
            Read(text, expected, held);
        }

        return expected;
    }

    private static void Read(string text, Dictionary<ulong, float[]> expected, Dictionary<ulong, List<float[]>>? held)
    {
        foreach (var line in File.ReadLines(text))
        {
            var fields = line.Split('\t');
            var key = ulong.Parse(fields[0], CultureInfo.InvariantCulture);
            float[] value = [.. fields[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => float.Parse(f, CultureInfo.InvariantCulture))];
            expected[key] = value;
            if (held is not null)
            {
                (held.TryGetValue(key, out var values) ? values : held[key] = []).Add(value);
            }
        }
    }

    /// <summary>The keys looked up over the wire: each key's floats, or null when missing or failed.</summary>
    private static List<(ulong Key, float[]? Value)> LookUp(TempDirectory dir, ServerProcess server, List<ulong> keys)
    {
        var conf = dir.Combine("cube.conf");
        File.WriteAllText(conf, $"[{{\"dict_name\": \"emb\", \"shard\": 1, \"dup\": 1, \"timeout\": 2000, \"retry\": 1, \"type\": \"ipport_list\", \"nodes\": [{{\"ipport_list\": \"list://127.0.0.1:{server.DataPort.ToString(CultureInfo.InvariantCulture)}\"}}]}}]");
        var looked = CubeProcess.RunWithInput(dir.Path, string.Join('\n', keys) + "\n", "lookup", "--conf", conf, "--dict", "emb", "--floats", "-");
        var answers = looked.Lines.Select(l => l.Split('\t')).Where(f => f.Length == 2).ToDictionary(f => ulong.Parse(f[0], CultureInfo.InvariantCulture), f => f[1]);
        return [.. keys.Select(k => (k, answers.TryGetValue(k, out var got) && got is not "MISSING" and not "FAILED"
            ? got.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Select(f => float.Parse(f, CultureInfo.InvariantCulture)).ToArray()
            : null))];
    }

    /// <summary>3,000 keys answer their newest value over the wire.</summary>
    private static void AssertServes(TempDirectory dir, ServerProcess server, Dictionary<ulong, float[]> expected, string context)
    {
        foreach (var (key, got) in LookUp(dir, server, expected.Keys.Where((_, i) => i % 97 == 0).Take(3000).ToList()))
        {
            Assert.True(got is not null, $"{context}: key {key} missing or failed");
            Assert.True(Same(got!, expected[key]), $"{context}: key {key} = {string.Join(' ', got!)}, expected {string.Join(' ', expected[key])}");
        }
    }
}
