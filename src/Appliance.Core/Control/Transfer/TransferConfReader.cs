using System.Globalization;
using System.Text.Json;
using Appliance.Core.Formats;
using Appliance.Core.Net;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// Reads <c>transfer.conf</c> as the original did: INI sections,
/// <c>key: value</c> split at the first ':', '#' comment lines, trailing " #", "\t#", " //", "\t//"
/// comments stripped; <c>[default]</c> and <c>[cube_agent]</c> with <c>agent&lt;s&gt;_&lt;r&gt;</c> /
/// <c>cube&lt;s&gt;_&lt;r&gt;</c>. A file starting with '{' is read as JSON with the same keys
/// (<c>"default": {...}, "cube_agent": {...}</c>). Errors name the file and line or key.
/// </summary>
internal static class TransferConfReader
{
    private static readonly string[] Known =
    [
        "dict_name", "mode", "download_mode", "wget_port", "buildtool_local", "donefile_address", "output_address",
        "tmp_address", "shard_num", "copy_num", "deploy_path", "transfer_address", "token_file", "poll_seconds",
        "down_policy", "max_attempts", "parallelism", "stage_timeout_seconds", "serve_bytes_per_second", "value_codec",
        "storage_place", "retain_lineages", "retain_versions", "fetch_timeout_seconds", "progress_seconds",
    ];

    /// <summary>Keys the original transfer (its code or its deployment guide) reads that this one
    /// does not need: accepted and reported as ignored, so an original transfer.conf works as it is.</summary>
    private static readonly string[] Informational = ["download_mode", "wget_port", "buildtool_local", "deploy_path", "transfer_address", "storage_place"];

    public static TransferOptions Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtLine(path, 0, $"cannot read: {e.Message}");
        }

        if (text.TrimStart().StartsWith("[{", StringComparison.Ordinal) || text.TrimStart().StartsWith("[\n", StringComparison.Ordinal) && text.Contains("dict_name\"", StringComparison.Ordinal))
        {
            throw InputFormatException.AtLine(path, 1, "this looks like a cube.conf (the client's JSON); a transfer.conf has [default] and [cube_agent] sections (docs/deploy.md §4)");
        }

        var sections = text.TrimStart().StartsWith('{') ? ParseJson(text, path) : ParseIni(text, path);
        return Build(sections, path, Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    private static Dictionary<string, Dictionary<string, (string Value, string Where)>> ParseIni(string text, string path)
    {
        var sections = new Dictionary<string, Dictionary<string, (string, string)>>(StringComparer.Ordinal);
        Dictionary<string, (string, string)>? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = StripComment(lines[i]).Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (line[0] == '[')
            {
                if (line[^1] != ']')
                {
                    throw InputFormatException.AtLine(path, i + 1, $"section header '{line}' lacks ']'");
                }

                var name = line[1..^1].Trim();
                current = sections.TryGetValue(name, out var existing) ? existing : sections[name] = new(StringComparer.Ordinal);
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw InputFormatException.AtLine(path, i + 1, $"expected 'key: value', got '{line}'");
            }

            if (current is null)
            {
                throw InputFormatException.AtLine(path, i + 1, "key outside a [section]");
            }

            current[line[..colon].Trim()] = (line[(colon + 1)..].Trim(), $"line {i + 1}");
        }

        return sections;
    }

    private static string StripComment(string line)
    {
        foreach (var marker in new[] { " #", "\t#", " //", "\t//" })
        {
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                line = line[..at];
            }
        }

        return line.TrimEnd('\r');
    }

    private static Dictionary<string, Dictionary<string, (string, string)>> ParseJson(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var sections = new Dictionary<string, Dictionary<string, (string, string)>>(StringComparer.Ordinal);
            foreach (var section in doc.RootElement.EnumerateObject())
            {
                if (section.Value.ValueKind != JsonValueKind.Object)
                {
                    throw new InputFormatException(path, section.Name, "expected an object of settings");
                }

                var values = sections[section.Name] = new(StringComparer.Ordinal);
                foreach (var item in section.Value.EnumerateObject())
                {
                    var value = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : item.Value.GetRawText();
                    values[item.Name] = (value, $"{section.Name}.{item.Name}");
                }
            }

            return sections;
        }
        catch (JsonException e)
        {
            throw InputFormatException.AtLine(path, (e.LineNumber ?? 0) + 1, $"not JSON: {e.Message}");
        }
    }

    private static TransferOptions Build(Dictionary<string, Dictionary<string, (string Value, string Where)>> sections, string path, string baseDirectory)
    {
        var d = sections.TryGetValue("default", out var def) ? def : throw new InputFormatException(path, "[default]", "missing section");
        foreach (var (key, (_, where)) in d)
        {
            if (!Known.Contains(key))
            {
                throw new InputFormatException(path, where, $"unknown key '{key}' in [default]");
            }
        }

        string Req(string key) => d.TryGetValue(key, out var v) && v.Value.Length > 0 ? v.Value : throw new InputFormatException(path, "[default]", $"missing '{key}'");
        string? Opt(string key) => d.TryGetValue(key, out var v) && v.Value.Length > 0 ? v.Value : null;
        int Int(string key, int fallback, int min, int max)
        {
            if (!d.TryGetValue(key, out var v))
            {
                return fallback;
            }

            return int.TryParse(v.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
                ? n
                : throw new InputFormatException(path, v.Where, $"{key}: '{v.Value}' is not an integer in [{min}, {max}]");
        }

        string Local(string value)
        {
            try
            {
                return value.Contains("://", StringComparison.Ordinal) ? value : Path.GetFullPath(value, baseDirectory);
            }
            catch (ArgumentException e)
            {
                throw new InputFormatException(path, "[default]", $"'{value}' is not a path: {e.Message}");
            }
        }

        var dict = Req("dict_name");
        if (!TableBuilder.IsValidDictName(dict))
        {
            throw new InputFormatException(path, d["dict_name"].Where, $"dict_name '{dict}' is not a valid dict name");
        }

        var mode = Opt("mode") ?? "base_delta";
        if (mode is not ("base_only" or "base_delta"))
        {
            throw new InputFormatException(path, d["mode"].Where, $"mode '{mode}' is not base_only or base_delta");
        }

        var policy = Opt("down_policy") ?? "skip";
        if (policy is not ("wait" or "skip"))
        {
            throw new InputFormatException(path, d["down_policy"].Where, $"down_policy '{policy}' is not wait or skip");
        }

        var shards = Int("shard_num", 0, 1, 65536);
        var copies = Int("copy_num", 0, 1, 1024);
        if (shards == 0 || copies == 0)
        {
            throw new InputFormatException(path, "[default]", "shard_num and copy_num are required");
        }

        var agents = sections.TryGetValue("cube_agent", out var a) ? a : throw new InputFormatException(path, "[cube_agent]", "missing section");
        var agentList = Grid(agents, "agent", shards, copies, path, parts: 2);
        var cubeList = agents.Keys.Any(k => k.StartsWith("cube", StringComparison.Ordinal)) ? Grid(agents, "cube", shards, copies, path, parts: 3) : [];
        var donefile = Local(Req("donefile_address"));
        if (donefile.Contains("://", StringComparison.Ordinal) && !(Uri.TryCreate(donefile, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            throw new InputFormatException(path, d["donefile_address"].Where, $"donefile_address '{donefile}' is not an http(s) URL or a directory");
        }
        var codecText = Opt("value_codec") ?? "raw";
        if (!ValueCodecs.TryParse(codecText, out var codec))
        {
            throw new InputFormatException(path, d["value_codec"].Where, $"value_codec '{codecText}' is not raw, f32, f16 or i8");
        }

        return new TransferOptions
        {
            DictName = dict,
            Mode = mode,
            DonefileAddress = donefile,
            OutputAddress = Local(Req("output_address")),
            TmpAddress = Local(Req("tmp_address")),
            ShardNum = shards,
            CopyNum = copies,
            Agents = agentList,
            Cubes = cubeList,
            TokenFile = Opt("token_file") is { } t ? Local(t) : null,
            PollSeconds = Int("poll_seconds", 10, 1, 86400),
            DownPolicy = policy,
            MaxAttempts = Int("max_attempts", 5, 1, 1000),
            Parallelism = Int("parallelism", 8, 1, 1024),
            StageTimeoutSeconds = Int("stage_timeout_seconds", 1800, 1, 86400 * 7),
            ServeBytesPerSecond = Int("serve_bytes_per_second", 0, 0, int.MaxValue),
            ValueCodec = codec,
            RetainLineages = Int("retain_lineages", 2, 1, 100),
            RetainVersions = Int("retain_versions", TransferOptions.DefaultRetainVersions, 0, 1_000_000),
            FetchTimeoutSeconds = Int("fetch_timeout_seconds", 30, 1, 3600),
            ProgressSeconds = Int("progress_seconds", 10, 1, 3600),
            Ignored = Informational.Where(d.ContainsKey).ToDictionary(k => k, k => d[k].Value),
        };
    }

    /// <summary>agent&lt;s&gt;_&lt;r&gt; → [s][r], every one present; agents are host:port, cubes host:port:deploy_path.</summary>
    private static List<IReadOnlyList<NodeAddress>> Grid(Dictionary<string, (string Value, string Where)> section, string prefix, int shards, int copies, string path, int parts)
    {
        var grid = new List<IReadOnlyList<NodeAddress>>();
        for (var s = 0; s < shards; s++)
        {
            var replicas = new List<NodeAddress>();
            for (var r = 0; r < copies; r++)
            {
                var key = $"{prefix}{s}_{r}";
                if (!section.TryGetValue(key, out var entry))
                {
                    throw new InputFormatException(path, "[cube_agent]", $"missing '{key}' (shard_num {shards} × copy_num {copies})");
                }

                var fields = entry.Value.Split(':');
                if (fields.Length != parts || !NodeAddress.TryParse($"{fields[0]}:{fields[1]}", out var address))
                {
                    var form = parts == 2 ? "ip:port" : "ip:port:deploy_path";
                    throw new InputFormatException(path, entry.Where, $"{key}: '{entry.Value}' is not {form}");
                }

                replicas.Add(address);
            }

            grid.Add(replicas);
        }

        return grid;
    }
}
