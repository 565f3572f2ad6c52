using Appliance.Core.Engine;

namespace Appliance.E2E.Tests;

/// <summary><c>/metrics</c> of every role passes <c>promtool check metrics</c>
/// (Debian's prometheus package, a linter no one here wrote), after each has served traffic, so
/// counters, histograms and labels are all present.</summary>
public sealed class MetricsLintTests
{
    [Fact]
    public async Task EveryRolesMetricsPassPromtool()
    {
        using var plane = new ControlPlane(rows: 2_000);
        plane.Publish("100", ControlPlane.Keys(2_000, seed: 3));
        plane.WaitActive("100_100");
        File.WriteAllText(plane.Directory.Combine("cube.conf"), plane.ClientConfJson());
        using var proxy = ServerProcess.Start("run", "--roles", "proxy", "--bind", "127.0.0.1", "--http-port", "0", "--conf", plane.Directory.Combine("cube.conf"), "--resp-port", "0");
        using var engineDir = new TempDirectory();
        EngineTests.BuildTable(engineDir);
        ModelPackage.Write(engineDir.Combine("model"), DenseNetwork.Random(seed: 71), new ModelSpec { Dict = "emb" }, "1");
        using var engine = ServerProcess.Start("run", "--roles", "engine", "--bind", "127.0.0.1", "--http-port", "0", "--port", "0", "--model", engineDir.Combine("model"), "--local", "--data-dir", engineDir.Combine("out"));

        // Traffic first, so every counter and histogram has samples.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var line = File.ReadLines(TestData.CriteoSample).First();
        using (var predict = await http.PostAsync($"http://127.0.0.1:{engine.HttpPort}/predict", new StringContent(System.Text.Json.JsonSerializer.Serialize(new { lines = new[] { line } }))))
        {
            Assert.True(predict.IsSuccessStatusCode);
        }

        await http.GetStringAsync($"http://127.0.0.1:{proxy.HttpPort}/lookup?keys=1,2,3");
        foreach (var (port, bytes) in new[] { (proxy.RespPort, "PING\r\nMGET 1 2\r\n"), (engine.HttpPort, "NOT HTTP AT ALL\r\n\r\n") })
        {
            // A RESP command, and a request line Kestrel refuses (a counted connection error).
            using var raw = new System.Net.Sockets.TcpClient("127.0.0.1", port);
            var stream = raw.GetStream();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(bytes));
            _ = await stream.ReadAsync(new byte[4096]); // any answer: the command was taken
        }
        var roles = new Dictionary<string, int>
        {
            ["transfer"] = plane.TransferPort,
            ["server+agent"] = plane.Agents[0][0].HttpPort,
            ["proxy"] = proxy.HttpPort,
            ["engine"] = engine.HttpPort,
        };
        var families = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (role, port) in roles)
        {
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            families.UnionWith(metrics.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]));
            Assert.Contains("cube_http_request_duration_seconds_bucket", metrics, StringComparison.Ordinal);
            Assert.Contains("dotnet_gc_collections_total{generation=\"0\"}", metrics, StringComparison.Ordinal);
            Assert.True(Sample(metrics, "process_cpu_seconds_total") > 0, $"{role}: process_cpu_seconds_total");
            string[] expected = role switch
            {
                "engine" => ["cube_engine_stage_duration_seconds_bucket{stage=\"gather\"", "cube_engine_model_version_info{variant=\"model\",version=\"1\"} 1", "cube_engine_table_version_info{version=\"1\"} 1"],
                "server+agent" => ["cube_server_request_duration_seconds_bucket{dict=\"emb\",shard=\"0\",op=\"lookup\"", "cube_server_live_version_info{dict=\"emb\",shard=\"0\",version=\"100\"} 1", "cube_agent_staged_version_info{dict=\"emb\",shard=\"0\",version=\"100_100\"} 1"],
                "proxy" => ["cube_resp_keys_total", "cube_client_shard_failures_total{dict=\"emb\",shard=\"1\"} 0"],
                _ => ["cube_transfer_current_version_info{dict=\"emb\",version=\"100_100\"} 1"],
            };
            Assert.All(expected, name => Assert.Contains(name, metrics, StringComparison.Ordinal));

            // Histograms that moved: the traffic and the rollout above each left observations.
            string[] moved = role switch
            {
                "engine" => ["cube_engine_predict_duration_seconds_count"],
                "server+agent" => ["cube_server_request_duration_seconds_count{dict=\"emb\",shard=\"0\",op=\"lookup\"}", "cube_agent_operation_duration_seconds_count{dict=\"emb\",shard=\"0\",op=\"stage\",outcome=\"ok\"}", "cube_agent_operation_duration_seconds_count{dict=\"emb\",shard=\"0\",op=\"activate\",outcome=\"ok\"}"],
                "proxy" => ["cube_client_lookup_duration_seconds_count{dict=\"emb\"}"],
                _ => ["cube_transfer_phase_duration_seconds_count{dict=\"emb\",phase=\"build\"}", "cube_transfer_phase_duration_seconds_count{dict=\"emb\",phase=\"activate\"}", "cube_transfer_rollout_duration_seconds_count{dict=\"emb\"}"],
            };
            Assert.All(moved, series => Assert.True(Sample(metrics, series) > 0, $"{role}: {series} is {Sample(metrics, series)}"));
            var (exit, output) = Promtool(metrics);
            Assert.True(exit == 0 && output.Length == 0, $"{role}: promtool check metrics exit {exit}:\n{output}");
        }

        // The Grafana dashboard in deploy/ uses exactly the names the roles export.
        var dashboard = File.ReadAllText(Path.Combine(TestData.RepositoryRoot, "deploy", "grafana", "cube-dashboard.json"));
        var used = System.Text.RegularExpressions.Regex.Matches(dashboard, "cube_[a-z0-9_]+").Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.True(families.Contains(name) || families.Contains(System.Text.RegularExpressions.Regex.Replace(name, "_(bucket|sum|count)$", string.Empty)), $"the dashboard uses {name}, which no role exports"));
    }

    /// <summary>The value of one series ("name{labels}" exactly as exported); NaN when absent.</summary>
    private static double Sample(string metrics, string series) =>
        metrics.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal)) is { } line
            ? double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture)
            : double.NaN;

    private static (int Exit, string Output) Promtool(string metrics)
    {
        var result = ExternalTool.Run("promtool", "prometheus", ["check", "metrics"], stdin: metrics);
        return (result.ExitCode, (result.Stdout + result.Stderr).Trim());
    }
}
