using System.Globalization;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Control.Transfer;

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
        new("timeout-ms", "how long to wait for each node", "2000", Meta: "MS"),
        new("json", "print JSON instead of a table", IsFlag: true),
    ];

    private sealed record Replica(int Shard, int Number, string Address, bool Up, string Live, IReadOnlyList<string> Staged, long Keys, long Lookups, long Errors, string? LastError);

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
        using var http = new HttpClient { Timeout = timeout };
        var transferUrl = a.Require("transfer").TrimEnd('/');
        var transferTask = GetAsync(http, $"{transferUrl}/status");
        var replicaTasks = conf.Agents.SelectMany((replicas, s) => replicas.Select((node, r) => ReplicaAsync(http, s, r, node))).ToList();
        Task.WaitAll([transferTask, .. replicaTasks]);
        var (transferDoc, transferError) = transferTask.Result;
        var replicas = replicaTasks.Select(t => t.Result).ToList();

        var transfer = transferDoc?.RootElement is { ValueKind: JsonValueKind.Object } root && root.TryGetProperty("transfer", out var t) && t.ValueKind == JsonValueKind.Object ? t : (JsonElement?)null;
        var current = transfer is { } tr ? Text(tr, "current_version") : string.Empty;
        var inProgress = transfer is { } tp ? Text(tp, "in_progress") : string.Empty;
        var behind = replicas.Where(r => r.Up && current.Length > 0 && r.Live != current).ToList();
        var waitingOn = inProgress.Length == 0 ? [] : replicas.Where(r => !r.Staged.Contains(inProgress) && r.Live != inProgress).ToList();
        var down = replicas.Where(r => !r.Up).ToList();

        if (a.Flag("json"))
        {
            WriteJson(conf, transferUrl, transfer, transferError, replicas, behind, down, waitingOn);
        }
        else
        {
            WriteTable(conf, transferUrl, transfer, transferError, current, inProgress, replicas, behind, down, waitingOn);
        }

        transferDoc?.Dispose();
        return down.Count == 0 && behind.Count == 0 && transfer is not null ? 0 : 1;
    }

    private static async Task<Replica> ReplicaAsync(HttpClient http, int shard, int number, NodeAddress node)
    {
        var (doc, error) = await GetAsync(http, $"http://{node}/status").ConfigureAwait(false);
        using (doc)
        {
            if (doc is null)
            {
                return new Replica(shard, number, node.ToString(), false, string.Empty, [], 0, 0, 0, error);
            }

            var root = doc.RootElement;
            var server = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("server", out var s) ? s : default;
            var agent = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("agent", out var g) ? g : default;
            // Whatever a node answers, the table is printed: fields of the wrong type read as absent.
            var staged = agent.ValueKind == JsonValueKind.Object && agent.TryGetProperty("staged", out var st) && st.ValueKind == JsonValueKind.Array
                ? st.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList()
                : [];
            return new Replica(shard, number, node.ToString(), true,
                server.ValueKind == JsonValueKind.Object ? Label(Text(server, "live_version")) : string.Empty, staged,
                Number(server, "keys"), Number(server, "lookups"), Number(server, "errors"),
                agent.ValueKind == JsonValueKind.Object ? NullableText(agent, "last_error") : null);
        }
    }

    private static async Task<(JsonDocument? Doc, string? Error)> GetAsync(HttpClient http, string url)
    {
        try
        {
            var body = await http.GetStringAsync(url).ConfigureAwait(false);
            return (JsonDocument.Parse(body), null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return (null, e is TaskCanceledException ? "no answer within the timeout" : e.Message);
        }
    }

    /// <summary>A server names a base alone "100" and a patch "100_101"; the transfer "100_100"
    /// and "100_101": compared in the transfer's form.</summary>
    private static string Label(string live) => live.Length == 0 || live.Contains('_', StringComparison.Ordinal) ? live : $"{live}_{live}";

    private static string Text(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : string.Empty;

    private static string? NullableText(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long Number(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : 0;

    private static void WriteTable(TransferOptions conf, string transferUrl, JsonElement? transfer, string? transferError, string current, string inProgress, List<Replica> replicas, List<Replica> behind, List<Replica> down, List<Replica> waitingOn)
    {
        var w = Console.Out;
        var inv = CultureInfo.InvariantCulture;
        if (transfer is { } t)
        {
            var pinned = NullableText(t, "pinned");
            w.WriteLine(string.Create(inv, $"transfer {transferUrl}: dict {conf.DictName}  current {Dash(current)}  in progress {Dash(inProgress)}{(inProgress.Length > 0 ? $" ({Text(t, "in_progress_status")})" : string.Empty)}  pinned {Dash(pinned)}  failed {Number(t, "versions_failed")}  last error {Dash(NullableText(t, "last_error"))}"));
        }
        else
        {
            w.WriteLine($"transfer {transferUrl}: DOWN ({transferError})");
        }

        w.WriteLine($"{"shard",-5} {"rep",-3} {"address",-22} {"state",-6} {"live",-24} {"staged",-24} {"keys",12} {"lookups",14} {"errors",8}  last error");
        foreach (var r in replicas)
        {
            var state = !r.Up ? "DOWN" : behind.Contains(r) ? "BEHIND" : "ok";
            w.WriteLine(string.Create(inv, $"{r.Shard,-5} {r.Number,-3} {r.Address,-22} {state,-6} {Dash(r.Live),-24} {Dash(string.Join(",", r.Staged)),-24} {r.Keys,12:N0} {r.Lookups,14:N0} {r.Errors,8:N0}  {Dash(r.LastError)}"));
        }

        if (waitingOn.Count > 0)
        {
            w.WriteLine($"rollout of {inProgress} waits on: {string.Join(", ", waitingOn.Select(r => $"shard {r.Shard} replica {r.Number} ({r.Address})"))}");
        }

        w.WriteLine($"{replicas.Count - down.Count}/{replicas.Count} replicas up, {behind.Count} behind, {down.Count} down");
    }

    private static void WriteJson(TransferOptions conf, string transferUrl, JsonElement? transfer, string? transferError, List<Replica> replicas, List<Replica> behind, List<Replica> down, List<Replica> waitingOn)
    {
        using var json = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("dict", conf.DictName);
        json.WriteString("transfer_url", transferUrl);
        if (transfer is { } t)
        {
            json.WritePropertyName("transfer");
            t.WriteTo(json);
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
            json.WriteNumber("lookups", r.Lookups);
            json.WriteNumber("errors", r.Errors);
            json.WriteString("last_error", r.LastError);
            json.WriteBoolean("rollout_waits_on", waitingOn.Contains(r));
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

    private static string Dash(string? text) => string.IsNullOrEmpty(text) ? "-" : text;
}
