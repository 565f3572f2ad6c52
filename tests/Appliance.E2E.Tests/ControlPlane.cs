using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Formats;
using Appliance.Core.Protocol;

namespace Appliance.E2E.Tests;

/// <summary>
/// A transfer and 2 shards × 2 replicas of <c>cube run --roles server,agent</c> on 127.0.0.1, with
/// a token, a donefile directory and a transfer.conf in the original format. Versions are
/// published the way a trainer does: SequenceFiles first, then one donefile line.
/// </summary>
public sealed class ControlPlane : IDisposable
{
    public const string Dict = "emb";
    public const string Token = "e2e-token-0123456789abcdef";

    private readonly string[] _extraConf;
    private readonly string? _donefileAddress;

    public ControlPlane(int rows = 20_000, params string[] extraConf)
        : this(null, rows, extraConf)
    {
    }

    /// <summary>With <paramref name="donefileAddress"/> the transfer polls that address instead of
    /// the local done/ directory (e.g. an http:// file server).</summary>
    public ControlPlane(string? donefileAddress, int rows = 20_000, params string[] extraConf)
    {
        _donefileAddress = donefileAddress;
        // The helpers below wait synchronously; never let that starve the client's callbacks.
        ThreadPool.SetMinThreads(32, 32);
        _extraConf = extraConf;
        Directory = new TempDirectory();
        Rows = rows;
        File.WriteAllText(Directory.Combine("token"), Token + "\n");
        System.IO.Directory.CreateDirectory(Directory.Combine("done"));
        TransferPort = FreePort();
        Agents = [.. Enumerable.Range(0, 2).Select(s => Enumerable.Range(0, 2).Select(r => StartAgent(s, r)).ToArray())];
        File.WriteAllText(Directory.Combine("transfer.conf"), TransferConf());
        Transfer = StartTransfer();
    }

    public TempDirectory Directory { get; }

    /// <summary><paramref name="count"/> distinct-enough random keys, the same for the same seed.</summary>
    public static ulong[] Keys(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => (ulong)new Random(seed + i).NextInt64(1, long.MaxValue)).ToArray();

    public int Rows { get; }

    public int TransferPort { get; }

    public ServerProcess[][] Agents { get; }

    public ServerProcess Transfer { get; private set; }

    /// <summary>What every key must answer once the newest published version is active.</summary>
    public Dictionary<ulong, byte[]> Expected { get; set; } = [];

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A port that is free now, chosen below Linux's ephemeral range (32768+), so the
    /// port-0 listeners of the processes started meanwhile cannot take it before its owner binds it.</summary>
    public static int FreePort()
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException) when (attempt < 100)
            {
                // taken: try another
            }
        }
    }

    public ServerProcess StartAgent(int shard, int replica, int? dataPort = null, int? httpPort = null) =>
        ServerProcess.Start("run", "--roles", "server,agent", "--bind", "127.0.0.1",
            "--port", (dataPort ?? 0).ToString(CultureInfo.InvariantCulture), "--http-port", (httpPort ?? 0).ToString(CultureInfo.InvariantCulture),
            "--data-dir", Directory.Combine($"agent{shard}{replica}"), "--dict", Dict, "--shard", shard.ToString(CultureInfo.InvariantCulture),
            "--transfer", $"http://127.0.0.1:{TransferPort}", "--token-file", Directory.Combine("token"));

    /// <summary>Restarts one agent process on its old ports and data directory.</summary>
    public void RestartAgent(int shard, int replica)
    {
        var old = Agents[shard][replica];
        var (data, http) = (old.DataPort, old.HttpPort);
        old.Dispose();
        Agents[shard][replica] = StartAgent(shard, replica, data, http);
    }

    public ServerProcess StartTransfer(int? fileSizeLimitKb = null) =>
        ServerProcess.StartLimited(fileSizeLimitKb, "run", "--roles", "transfer", "--bind", "127.0.0.1", "--http-port", TransferPort.ToString(CultureInfo.InvariantCulture), "--config", Directory.Combine("transfer.conf"));

    public void RestartTransfer(int? fileSizeLimitKb = null)
    {
        Transfer.Dispose();
        Transfer = StartTransfer(fileSizeLimitKb);
    }

    /// <summary>Writes a table version (random values for <paramref name="keys"/>) as SequenceFiles,
    /// updates <see cref="Expected"/>, and appends the donefile line (unless <paramref name="announce"/>
    /// is false: then <see cref="Announce"/> does). A patch's keys are added to
    /// or replace the current ones; a base replaces everything. Returns the rows written.</summary>
    public Dictionary<ulong, byte[]> Publish(string id, IEnumerable<ulong> keys, string? patchOf = null, int seed = 0, string? inputAs = null, bool announce = true)
    {
        var random = new Random(seed == 0 ? int.Parse(id, CultureInfo.InvariantCulture) : seed);
        var rows = keys.Select(k =>
        {
            var v = new byte[16];
            random.NextBytes(v);
            return (k, v);
        }).ToList();
        var input = Directory.Combine("data", id);
        System.IO.Directory.CreateDirectory(input);
        using (var writer = SequenceFileWriter.Create(Path.Combine(input, "part-00000"), seed: 1))
        {
            foreach (var (k, v) in rows)
            {
                writer.Write(k, v);
            }
        }

        var next = patchOf is null ? [] : new Dictionary<ulong, byte[]>(PendingExpected);
        foreach (var (k, v) in rows)
        {
            next[k] = v;
        }

        PendingExpected = next;
        if (announce)
        {
            Announce(id, patchOf, inputAs);
        }

        return rows.ToDictionary(r => r.k, r => r.v);
    }

    /// <summary>Appends the donefile line of a version <see cref="Publish"/> wrote with
    /// <c>announce: false</c>. The transfer watches the directory: it starts at once.</summary>
    public void Announce(string id, string? patchOf = null, string? inputAs = null)
    {
        var line = new DonefileEntry(id, patchOf ?? id, inputAs ?? Directory.Combine("data", id)).ToLine() + "\n";
        File.AppendAllText(Directory.Combine("done", patchOf is null ? "base.txt" : "patch.txt"), line);
    }

    public Dictionary<ulong, byte[]> PendingExpected { get; private set; } = [];

    /// <summary>Waits until the transfer reports <paramref name="label"/> current, then makes the
    /// published values the expected ones.</summary>
    public void WaitActive(string label, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (TransferStatus().GetProperty("current_version").GetString() == label)
            {
                Expected = PendingExpected;
                return;
            }

            Thread.Sleep(100);
        }

        throw new TimeoutException($"{label} not active in time; transfer status: {TransferStatus()}\n{Transfer.Output}");
    }

    /// <summary>As <see cref="WaitActive"/>, without blocking a thread (for tests with load running).</summary>
    public async Task WaitActiveAsync(string label, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            using var doc = JsonDocument.Parse(await Http.GetStringAsync($"http://127.0.0.1:{TransferPort}/status"));
            if (doc.RootElement.GetProperty("transfer").GetProperty("current_version").GetString() == label)
            {
                Expected = PendingExpected;
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{label} not active in time\n{Transfer.Output}");
    }

    /// <summary>Runs <c>cube transfer COMMAND [VERSION]</c> against this plane's transfer.</summary>
    internal CubeProcess.Result Operator(string command, string? version = null) =>
        CubeProcess.Run(Directory.Path, [.. new[] { "transfer", command }.Concat(version is null ? [] : [version]), "--transfer", $"http://127.0.0.1:{TransferPort}", "--token-file", Directory.Combine("token")]);

    public JsonElement History() => Get($"http://127.0.0.1:{TransferPort}/dict/deploy/history").GetProperty("data");

    public JsonElement TransferStatus() => Get($"http://127.0.0.1:{TransferPort}/status").GetProperty("transfer");

    public JsonElement AgentStatus(int shard, int replica) => Get($"http://127.0.0.1:{Agents[shard][replica].HttpPort}/agent/status");

    public string GetText(string url) => Http.GetStringAsync(url).GetAwaiter().GetResult();

    public JsonElement Get(string url)
    {
        using var doc = JsonDocument.Parse(Http.GetStringAsync(url).GetAwaiter().GetResult());
        return doc.RootElement.Clone();
    }

    internal IReadOnlyList<DictConf> ClientConf() => CubeConfReader.Parse(System.Text.Encoding.UTF8.GetBytes(ClientConfJson()), "cube.conf");

    /// <summary>The original client's cube.conf for this plane's 2 × 2 servers.</summary>
    public string ClientConfJson()
    {
        var nodes = string.Join(", ", Agents.Select(replicas => $"{{\"ipport_list\": \"list://{string.Join(',', replicas.Select(r => $"127.0.0.1:{r.DataPort}"))}\"}}"));
        return $"[{{\"dict_name\": \"{Dict}\", \"shard\": 2, \"dup\": 2, \"timeout\": 1000, \"retry\": 2, \"backup_request\": 0, \"type\": \"ipport_list\", \"load_balancer\": \"rr\", \"nodes\": [{nodes}]}}]";
    }

    /// <summary>Every expected key answers its expected value, and absent keys are missing.</summary>
    internal async Task AssertServesExpected(CubeClient client, IEnumerable<ulong>? absent = null)
    {
        var keys = Expected.Keys.Concat(absent ?? []).ToArray();
        for (var start = 0; start < keys.Length; start += 500)
        {
            var batch = keys.AsMemory(start, Math.Min(500, keys.Length - start));
            using var result = await client.LookupAsync(Dict, batch);
            for (var i = 0; i < batch.Length; i++)
            {
                var key = batch.Span[i];
                if (Expected.TryGetValue(key, out var value))
                {
                    Assert.True(result.Status[i] == KeyStatus.Found && result.Value(i).SequenceEqual(value), $"key {key}: {result.Status[i]}");
                }
                else
                {
                    Assert.Equal(KeyStatus.Missing, result.Status[i]);
                }
            }
        }
    }

    public void Dispose()
    {
        Transfer.Dispose();
        foreach (var agent in Agents.SelectMany(a => a))
        {
            agent.Dispose();
        }

        Http.Dispose();
        Directory.Dispose();
    }

    private string TransferConf()
    {
        var agents = string.Join("\n", Agents.SelectMany((replicas, s) => replicas.Select((a, r) =>
            $"agent{s}_{r}: 127.0.0.1:{a.HttpPort}\ncube{s}_{r}: 127.0.0.1:{a.DataPort}:{Directory.Combine($"agent{s}{r}")}")));
        return $"""
            # transfer.conf in the original format
            [default]
            dict_name: {Dict}
            mode: base_delta
            download_mode: http
            wget_port: 8009
            buildtool_local: /opt/cube/cube-builder  # the builder runs in-process now
            donefile_address: {_donefileAddress ?? Directory.Combine("done")}
            output_address: {Directory.Combine("output")}
            tmp_address: {Directory.Combine("tmp")}
            shard_num: 2
            copy_num: 2
            deploy_path: /opt/cube
            transfer_address: 127.0.0.1
            token_file: {Directory.Combine("token")}
            poll_seconds: 1
            max_attempts: 4
            {string.Join("\n", _extraConf)}

            [cube_agent]
            {agents}
            """;
    }
}
