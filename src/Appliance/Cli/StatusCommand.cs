using System.Globalization;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Control;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Net;

namespace Appliance.Cli;

/// <summary>
/// <c>cube status --config transfer.conf</c>: the whole cluster from one terminal. Reads the
/// topology from transfer.conf, asks the transfer and every shard × replica (its server+agent
/// process's <c>/status</c>) at once with a short timeout, and prints one table: per replica up or
/// down, live and staged versions, keys, lookups and errors, last error; the transfer's current,
/// in-progress and pinned versions and which replicas a rollout still waits on. <c>--json</c> for
/// scripts. Exit 0 when every replica is up and live on the transfer's current version, 1
/// otherwise (usable from monitoring), 2 for a bad command line.
/// </summary>
internal static class StatusCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("config", "the transfer.conf naming the dict's shards and replicas (agentS_R: host:http-port)", Meta: "FILE"),
        new("transfer", "the transfer's HTTP address", "http://127.0.0.1:8099", Meta: "URL"),
        new("engines", "engine HTTP addresses to include, comma-separated (host:port,...)", Meta: "LIST"),
        new("timeout-ms", "how long to wait for each node", "2000", Meta: "MS"),
        new("json", "print JSON instead of a table", IsFlag: true),
    ];

    private sealed record Replica(int Shard, int Number, string Address, bool Up, string Live, IReadOnlyList<string> Staged, long Keys, long Lookups, long Errors, string? LastError, double LookupsPerSecond = 0, double? P99Seconds = null, int ReadLayers = 0, long MergeFailures = 0);

    private sealed record Engine(string Address, bool Up, bool Ready, string? NotReadyReason, string Model, string ModelVersion, string TableVersion, double RequestsPerSecond, double? P99Seconds, long Unavailable, string? Error);

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube status --config transfer.conf [--transfer URL] [--json]", "The cluster at a glance: the transfer's versions and every replica's state. Exit 1 when a replica is down or behind.", Options));
            return 0;
        }

        var conf = TransferConfReader.Read(a.Require("config"));
        var timeout = TimeSpan.FromMilliseconds(a.Int("timeout-ms", 100, 600_000));
        // One deadline for the whole command: a node that trickles its answer cannot hold it longer.
        using var deadline = new CancellationTokenSource(timeout);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var ct = deadline.Token;
        var transferUrl = a.Require("transfer").TrimEnd('/');
        var transferTask = GetAsync(http, $"{transferUrl}/status", ct);
        var replicaTasks = conf.Agents.SelectMany((replicas, s) => replicas.Select((node, r) => ReplicaAsync(http, s, r, node, ct))).ToList();
        var engineTasks = (a.Get("engines") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(address => NodeAddress.TryParse(address, out var node) ? EngineAsync(http, node.ToString(), ct) : throw new UsageException($"--engines: '{address}' is not host:port"))
            .ToList();
        Task.WaitAll([transferTask, .. replicaTasks, .. engineTasks]);
        var (transferNode, transferError) = transferTask.Result;
        var replicas = replicaTasks.Select(t => t.Result).ToList();
        var engines = engineTasks.Select(t => t.Result).ToList();

        var transfer = transferNode?.Transfer;
        transferError ??= transfer is null ? "no transfer role in its /status" : null;
        var current = Printable(transfer?.CurrentVersion ?? string.Empty);
        var inProgress = Printable(transfer?.InProgress ?? string.Empty);
        var behind = replicas.Where(r => r.Up && current.Length > 0 && r.Live != current).ToList();
        var waitingOn = inProgress.Length == 0 ? [] : replicas.Where(r => !r.Staged.Contains(inProgress) && r.Live != inProgress).ToList();
        var down = replicas.Where(r => !r.Up).ToList();
        var enginesNotReady = engines.Count(e => !e.Ready);

        if (a.Flag("json"))
        {
            WriteJson(conf, transferUrl, transfer, transferError, replicas, behind, down, waitingOn, engines);
        }
        else
        {
            WriteTable(conf, transferUrl, transfer, transferError, current, inProgress, replicas, behind, down, waitingOn, engines);
        }

        return down.Count == 0 && behind.Count == 0 && enginesNotReady == 0 && transfer is not null ? 0 : 1;
    }

    private static async Task<Replica> ReplicaAsync(HttpClient http, int shard, int number, NodeAddress node, CancellationToken ct)
    {
        var (status, error) = await GetAsync(http, $"http://{node}/status", ct).ConfigureAwait(false);
        if (status is null)
        {
            return new Replica(shard, number, node.ToString(), false, string.Empty, [], 0, 0, 0, error);
        }

        var (server, agent) = (status.Server, status.Agent);
        return new Replica(shard, number, node.ToString(), true,
            Label(Printable(server?.LiveVersion ?? string.Empty)), [.. (agent?.Staged ?? []).Take(16).Select(Printable)],
            server?.Keys ?? 0, server?.Lookups ?? 0, server?.Errors ?? 0,
            agent?.LastError is { } last ? Printable(last) : null,
            server?.LookupsPerSecond ?? 0, server?.LookupP99Seconds,
            server?.ReadLayers ?? 0, server?.MergeFailures ?? 0);
    }

    private static async Task<Engine> EngineAsync(HttpClient http, string address, CancellationToken ct)
    {
        var (status, error) = await GetAsync(http, $"http://{address}/status", ct).ConfigureAwait(false);
        if (status?.Engine is not { } engine)
        {
            return new Engine(address, false, false, null, string.Empty, string.Empty, string.Empty, 0, null, 0, error ?? "no engine role in its /status");
        }

        return new Engine(address, true, engine.Ready, engine.NotReadyReason is { } why ? Printable(why) : null, Printable(engine.Model), Printable(engine.ModelVersion), Printable(engine.TableVersion ?? string.Empty),
            engine.RequestsPerSecond, engine.PredictP99Seconds, engine.UnavailableKeys, null);
    }

    /// <summary>A node's /status, read as bytes (whatever charset it claims) up to
    /// <see cref="MaxStatusBytes"/> and within the command's deadline. Anything else is the node
    /// being DOWN, with the reason: never an exception that hides the other nodes.</summary>
    private static async Task<(NodeStatus? Status, string? Error)> GetAsync(HttpClient http, string url, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"HTTP {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > MaxStatusBytes)
            {
                return (null, $"its /status is {response.Content.Headers.ContentLength} bytes (at most {MaxStatusBytes} read)");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            var body = new byte[MaxStatusBytes + 1];
            var length = 0;
            int read;
            while (length < body.Length && (read = await stream.ReadAsync(body.AsMemory(length), ct).ConfigureAwait(false)) > 0)
            {
                length += read;
            }

            if (length > MaxStatusBytes)
            {
                return (null, $"its /status is over {MaxStatusBytes} bytes");
            }

            return (JsonSerializer.Deserialize(body.AsSpan(0, length), StatusJsonContext.Default.NodeStatus) ?? throw new JsonException("null"), null);
        }
        catch (OperationCanceledException)
        {
            return (null, "no whole answer within the timeout (--timeout-ms)");
        }
        catch (JsonException e)
        {
            return (null, $"its /status is not the status this cube reads: {Printable(e.Message)}");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return (null, Printable(e.Message));
        }
    }

    /// <summary>A status document is a few KB; a node's answer is read up to this much.</summary>
    private const int MaxStatusBytes = 1 << 20;

    /// <summary>Text a node sent, safe to print on a terminal: control characters (escape
    /// sequences that could clear the screen or forge lines) shown as \uXXXX, at most 200 characters.</summary>
    internal static string Printable(string text)
    {
        var builder = new System.Text.StringBuilder(Math.Min(text.Length, 200));
        foreach (var c in text)
        {
            if (builder.Length >= 200)
            {
                builder.Append('…');
                break;
            }

            // C0/C1 controls (ESC starts every terminal sequence), line separators, bidi overrides.
            if (char.IsControl(c) || c is >= '\u2028' and <= '\u202E' or >= '\u2066' and <= '\u2069')
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>A server names a base alone "100" and a patch "100_101"; the transfer "100_100"
    /// and "100_101": compared in the transfer's form.</summary>
    private static string Label(string live) => live.Length == 0 || live.Contains('_', StringComparison.Ordinal) ? live : $"{live}_{live}";

    /// <summary>A latency in seconds for a person: "180µs", "2.4ms", "1.2s"; "-" when unknown.</summary>
    private static string Duration(double? seconds) => seconds switch
    {
        null => "-",
        < 0.001 => string.Create(CultureInfo.InvariantCulture, $"{seconds.Value * 1e6:F0}µs"),
        < 1 => string.Create(CultureInfo.InvariantCulture, $"{seconds.Value * 1e3:0.0#}ms"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds.Value:0.0#}s"),
    };

    private static void WriteTable(TransferOptions conf, string transferUrl, TransferStatus? transfer, string? transferError, string current, string inProgress, List<Replica> replicas, List<Replica> behind, List<Replica> down, List<Replica> waitingOn, List<Engine> engines)
    {
        var w = Console.Out;
        var inv = CultureInfo.InvariantCulture;
        if (transfer is { } t)
        {
            var pinned = t.Pinned is { } p ? Printable(p) : null;
            w.WriteLine(string.Create(inv, $"transfer {transferUrl}: dict {conf.DictName}  current {Dash(current)}  in progress {Dash(inProgress)}{(inProgress.Length > 0 ? $" ({Printable(t.InProgressStatus ?? string.Empty)})" : string.Empty)}  pinned {Dash(pinned)}  failed {t.VersionsFailed}  last error {Dash(t.LastError is { } e ? Printable(e) : null)}"));
        }
        else
        {
            w.WriteLine($"transfer {transferUrl}: DOWN ({transferError})");
        }

        w.WriteLine($"{"shard",-5} {"rep",-3} {"address",-22} {"state",-6} {"live",-24} {"staged",-24} {"keys",12} {"layers",6} {"lookups",14} {"lookups/s",10} {"p99",8} {"errors",8}  last error");
        foreach (var r in replicas)
        {
            var state = !r.Up ? "DOWN" : behind.Contains(r) ? "BEHIND" : "ok";
            w.WriteLine(string.Create(inv, $"{r.Shard,-5} {r.Number,-3} {r.Address,-22} {state,-6} {Dash(r.Live),-24} {Dash(Staged(r.Staged)),-24} {r.Keys,12:N0} {Layers(r),6} {r.Lookups,14:N0} {r.LookupsPerSecond,10:N0} {Duration(r.P99Seconds),8} {r.Errors,8:N0}  {Dash(r.LastError)}"));
        }

        if (engines.Count > 0)
        {
            w.WriteLine($"{"engine",-22} {"state",-9} {"model",-16} {"model version",-16} {"table",-16} {"req/s",8} {"p99",8}  note");
            foreach (var e in engines)
            {
                var state = !e.Up ? "DOWN" : e.Ready ? "ready" : "NOT READY";
                var note = e.Error ?? e.NotReadyReason ?? (e.Unavailable > 0 ? $"{e.Unavailable:N0} keys scored as zeros (a shard failed)" : null);
                w.WriteLine(string.Create(inv, $"{e.Address,-22} {state,-9} {Dash(e.Model),-16} {Dash(e.ModelVersion),-16} {Dash(e.TableVersion),-16} {e.RequestsPerSecond,8:N0} {Duration(e.P99Seconds),8}  {Dash(note)}"));
            }
        }

        if (waitingOn.Count > 0)
        {
            w.WriteLine($"rollout of {inProgress} waits on: {string.Join(", ", waitingOn.Select(r => $"shard {r.Shard} replica {r.Number} ({r.Address})"))}");
        }

        w.WriteLine($"{replicas.Count - down.Count}/{replicas.Count} replicas up, {behind.Count} behind, {down.Count} down{(engines.Count > 0 ? $"; {engines.Count(e => e.Ready)}/{engines.Count} engines ready" : string.Empty)}");
    }

    private static void WriteJson(TransferOptions conf, string transferUrl, TransferStatus? transfer, string? transferError, List<Replica> replicas, List<Replica> behind, List<Replica> down, List<Replica> waitingOn, List<Engine> engines)
    {
        using var json = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("dict", conf.DictName);
        json.WriteString("transfer_url", transferUrl);
        if (transfer is { } t)
        {
            json.WritePropertyName("transfer");
            JsonSerializer.Serialize(json, t, ControlJsonContext.Default.TransferStatus);
        }
        else
        {
            json.WriteString("transfer_error", transferError);
        }

        json.WriteStartArray("replicas");
        foreach (var r in replicas)
        {
            json.WriteStartObject();
            json.WriteNumber("shard", r.Shard);
            json.WriteNumber("replica", r.Number);
            json.WriteString("address", r.Address);
            json.WriteString("state", !r.Up ? "down" : behind.Contains(r) ? "behind" : "ok");
            json.WriteString("live", r.Live);
            json.WriteStartArray("staged");
            r.Staged.ToList().ForEach(json.WriteStringValue);
            json.WriteEndArray();
            json.WriteNumber("keys", r.Keys);
            json.WriteNumber("read_layers", r.ReadLayers);
            json.WriteNumber("merge_failures", r.MergeFailures);
            json.WriteNumber("lookups", r.Lookups);
            json.WriteNumber("lookups_per_second", r.LookupsPerSecond);
            WriteNullable(json, "lookup_p99_seconds", r.P99Seconds);
            json.WriteNumber("errors", r.Errors);
            json.WriteString("last_error", r.LastError);
            json.WriteBoolean("rollout_waits_on", waitingOn.Contains(r));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("engines");
        foreach (var e in engines)
        {
            json.WriteStartObject();
            json.WriteString("address", e.Address);
            json.WriteString("state", !e.Up ? "down" : e.Ready ? "ready" : "not_ready");
            json.WriteString("not_ready_reason", e.NotReadyReason);
            json.WriteString("model", e.Model);
            json.WriteString("model_version", e.ModelVersion);
            json.WriteString("table_version", e.TableVersion);
            json.WriteNumber("requests_per_second", e.RequestsPerSecond);
            WriteNullable(json, "predict_p99_seconds", e.P99Seconds);
            json.WriteNumber("unavailable_keys", e.Unavailable);
            json.WriteString("error", e.Error);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteNumber("up", replicas.Count - down.Count);
        json.WriteNumber("behind", behind.Count);
        json.WriteNumber("down", down.Count);
        json.WriteEndObject();
        json.Flush();
        Console.Out.WriteLine();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static string Dash(string? text) => string.IsNullOrEmpty(text) ? "-" : text;

    /// <summary>Layers a lookup probes (the base, a merged layer, patches not merged yet), with
    /// "!" when merges have failed: the replica serves right but slower until one succeeds.</summary>
    private static string Layers(Replica r) => !r.Up || r.ReadLayers == 0 ? "-" : r.MergeFailures > 0 ? $"{r.ReadLayers}!" : r.ReadLayers.ToString(CultureInfo.InvariantCulture);

    /// <summary>Staged versions in the table's column: the newest two and how many more (all of
    /// them are in --json), so several staged versions do not push the columns out of line.</summary>
    private static string Staged(IReadOnlyList<string> staged) =>
        staged.Count <= 2 ? string.Join(",", staged) : $"{string.Join(",", staged.TakeLast(2))} +{staged.Count - 2}";
}
