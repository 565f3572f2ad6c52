using System.Text.Json;
using Appliance.Core.Formats;
using Appliance.Core.Net;

namespace Appliance.Core.Client;

/// <summary>
/// Reads the original client's <c>cube.conf</c> unchanged: a JSON array, one object per dict, with
/// <c>dict_name, shard, dup, timeout, retry, backup_request, type, load_balancer, nodes</c>. Node
/// layouts: <c>ipport</c> (<c>{"ip","port"}</c> per shard), <c>ipport_list</c>
/// (<c>{"ipport_list":"list://ip:port,ip:port"}</c> per shard) and <c>ipport_parallel</c> (every
/// shard served by nodes[0]). Unlike the original, the node count must equal the shard count
/// (the original crashed on the first use of a missing node). Errors name the field.
/// </summary>
internal static class CubeConfReader
{
    private static readonly string[] Balancers = ["rr", "random", "la", "wrr", "c_murmurhash", "c_md5"];

    public static IReadOnlyList<DictConf> Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read: {e.Message}");
        }

        return Parse(bytes, path);
    }

    public static IReadOnlyList<DictConf> Parse(ReadOnlySpan<byte> json, string path)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            throw new InputFormatException(path, "offset 0", "not UTF-8 text");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            // A transfer.conf or gflags.conf given where the client's cube.conf belongs: say so.
            var text = System.Text.Encoding.UTF8.GetString(json).TrimStart();
            var kind = text.StartsWith("[default]", StringComparison.Ordinal) || text.Contains("[cube_agent]", StringComparison.Ordinal)
                ? " (this looks like a transfer.conf; a cube.conf is the client's JSON: [{\"dict_name\": …, \"nodes\": […]}], written by `cube conf client --from transfer.conf`)"
                : text.StartsWith("--", StringComparison.Ordinal) ? " (this looks like a gflags.conf; a cube.conf is the client's JSON)" : string.Empty;
            throw new InputFormatException(path, $"line {e.LineNumber + 1}", $"not JSON: {JsonErrorText.What(e)} (byte {(e.BytePositionInLine ?? 0) + 1}){kind}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            var entries = root.ValueKind switch
            {
                JsonValueKind.Array => root.EnumerateArray().ToList(),
                JsonValueKind.Object => [root],
                _ => throw new InputFormatException(path, "$", "expected a JSON array of dict entries"),
            };
            if (entries.Count == 0)
            {
                throw new InputFormatException(path, "$", "no dict entries");
            }

            var dicts = new List<DictConf>();
            for (var i = 0; i < entries.Count; i++)
            {
                var conf = ParseEntry(entries[i], path, $"[{i}]");
                if (dicts.Any(d => d.DictName == conf.DictName))
                {
                    throw new InputFormatException(path, $"[{i}].dict_name", $"dict '{conf.DictName}' is listed twice");
                }

                dicts.Add(conf);
            }

            return dicts;
        }
    }

    private static DictConf ParseEntry(JsonElement e, string path, string at)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new InputFormatException(path, at, "expected an object");
        }

        var name = String(e, "dict_name", path, at, required: true)!;
        var shards = Int(e, "shard", path, at, required: true, min: 1, fallback: 0);
        var type = String(e, "type", path, at, required: false) ?? "ipport_list";
        var balancer = String(e, "load_balancer", path, at, required: false) ?? "rr";
        if (!Balancers.Contains(balancer))
        {
            throw new InputFormatException(path, $"{at}.load_balancer", $"'{balancer}' is not one of {string.Join(", ", Balancers)}");
        }

        if (!e.TryGetProperty("nodes", out var nodes) || nodes.ValueKind != JsonValueKind.Array)
        {
            throw new InputFormatException(path, $"{at}.nodes", "missing or not an array");
        }

        var nodeList = nodes.EnumerateArray().ToList();
        var replicas = new List<IReadOnlyList<NodeAddress>>();
        switch (type)
        {
            case "ipport":
            case "ipport_list":
                if (nodeList.Count != shards)
                {
                    throw new InputFormatException(path, $"{at}.nodes", $"{nodeList.Count} node(s) for {shards} shard(s): node i serves shard i, so the counts must match");
                }

                for (var i = 0; i < nodeList.Count; i++)
                {
                    replicas.Add(type == "ipport" ? [IpPort(nodeList[i], path, $"{at}.nodes[{i}]")] : IpPortList(nodeList[i], path, $"{at}.nodes[{i}]"));
                }

                break;
            case "ipport_parallel":
                if (nodeList.Count == 0)
                {
                    throw new InputFormatException(path, $"{at}.nodes", "ipport_parallel needs nodes[0]");
                }

                var all = nodeList[0].TryGetProperty("ipport_list", out _) ? IpPortList(nodeList[0], path, $"{at}.nodes[0]") : [IpPort(nodeList[0], path, $"{at}.nodes[0]")];
                for (var i = 0; i < shards; i++)
                {
                    replicas.Add(all);
                }

                break;
            default:
                throw new InputFormatException(path, $"{at}.type", $"'{type}' is not ipport, ipport_list or ipport_parallel");
        }

        return new DictConf
        {
            DictName = name,
            Shards = shards,
            Dup = Int(e, "dup", path, at, required: false, min: 0, fallback: 1),
            TimeoutMs = Int(e, "timeout", path, at, required: false, min: 1, fallback: 1000),
            Retry = Int(e, "retry", path, at, required: false, min: 0, fallback: 2),
            BackupRequestMs = Math.Max(0, Int(e, "backup_request", path, at, required: false, min: int.MinValue, fallback: 0)),
            Type = type,
            LoadBalancer = balancer,
            Replicas = replicas,
        };
    }

    private static NodeAddress IpPort(JsonElement node, string path, string at)
    {
        var ip = String(node, "ip", path, at, required: true)!;
        var port = Int(node, "port", path, at, required: true, min: 1, fallback: 0);
        if (port > 65535)
        {
            throw new InputFormatException(path, $"{at}.port", $"{port} is not a port");
        }

        return new NodeAddress(ip, port);
    }

    private static List<NodeAddress> IpPortList(JsonElement node, string path, string at)
    {
        var text = String(node, "ipport_list", path, at, required: true)!;
        var list = text.StartsWith("list://", StringComparison.Ordinal) ? text["list://".Length..] : text;
        var result = new List<NodeAddress>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!NodeAddress.TryParse(part, out var address))
            {
                throw new InputFormatException(path, $"{at}.ipport_list", $"'{part}' is not ip:port");
            }

            result.Add(address);
        }

        return result.Count > 0 ? result : throw new InputFormatException(path, $"{at}.ipport_list", "no replicas listed");
    }

    private static string? String(JsonElement e, string name, string path, string at, bool required)
    {
        if (!e.TryGetProperty(name, out var v))
        {
            return required ? throw new InputFormatException(path, $"{at}.{name}", "missing") : null;
        }

        return v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s
            : throw new InputFormatException(path, $"{at}.{name}", "must be a non-empty string");
    }

    private static int Int(JsonElement e, string name, string path, string at, bool required, int min, int fallback)
    {
        if (!e.TryGetProperty(name, out var v))
        {
            return required ? throw new InputFormatException(path, $"{at}.{name}", "missing") : fallback;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= min
            ? n
            : throw new InputFormatException(path, $"{at}.{name}", $"must be an integer ≥ {min}");
    }
}
