using System.Net;
using Appliance.Core.Client;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Hosting;
using Appliance.Core.Node;
using Appliance.Core.Serving;
using Appliance.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run</c>'s command line → <see cref="NodeOptions"/>: one immutable options record per
/// role, each flag parsed in one place. Every problem is a <see cref="UsageException"/> naming the
/// flag (exit 2). Nothing is created on disk unless <paramref name="check"/> is false and the
/// roles need it (<c>--roles all</c>'s work directory and token).
/// </summary>
internal static class RunOptionsReader
{
    public static NodeOptions Read(ParsedArgs a, IReadOnlySet<string> roles, bool check)
    {
        if (roles.Contains("all"))
        {
            return AllRolesReader.Read(a, check);
        }

        if (roles.Contains("proxy") && (roles.Contains("server") || roles.Contains("engine")))
        {
            throw new UsageException("--roles: the proxy runs without a server or engine role in its process (it answers for the whole cluster in --conf)");
        }

        if (roles.Contains("engine") && roles.Count > 1)
        {
            throw new UsageException("--roles: the engine runs in a process of its own (--roles engine) or with every role (--roles all)");
        }

        if (!roles.Contains("engine") && a.Has("grpc-port"))
        {
            throw new UsageException("--grpc-port: only the engine answers gRPC (--roles engine, or --roles all)");
        }

        var bind = Bind(a);
        var alone = roles.Count == 1 ? roles.First() : null;
        var host = new HostSettings
        {
            Bind = bind,
            HttpPort = a.Has("http-port") ? a.Int("http-port", 0, 65535) : alone == "transfer" ? 8099 : alone == "engine" ? 8010 : 8001,
            LogLevel = LogLevel(a),
            JsonLogs = JsonLogs(a),
            LogRepeatInterval = LogRepeat(a),
            Limits = HttpLimits(a),
        };
        var managed = roles.Contains("agent");
        var server = roles.Contains("server") ? Server(a, bind, a.Require("dict"), Path.GetFullPath(a.Require("data-dir")), a.Int("shard", 0, 65535), managed) : null;
        if (server is { Managed: false } && !Directory.Exists(server.DataDir))
        {
            throw new UsageException($"option --data-dir: {server.DataDir} does not exist"); // an agent creates its own
        }

        if (managed && server is null)
        {
            throw new UsageException("--roles: the agent role controls the server role of its own process; run --roles server,agent");
        }

        TransferOptions? transfer = null;
        BearerToken? transferToken = null;
        if (roles.Contains("transfer"))
        {
            transfer = TransferConfReader.Read(a.Require("config"));
            transferToken = BearerToken.FromFile(a.Get("token-file") ?? transfer.TokenFile
                ?? throw new UsageException("the transfer needs a bearer token: --token-file FILE or token_file: in its config"));
        }

        return new NodeOptions
        {
            Host = host,
            Server = server,
            Agent = managed ? Agent(server!, TransferUrl(a.Require("transfer")), BearerToken.FromFile(a.Require("token-file")), a) : null,
            Transfer = transfer,
            TransferToken = transferToken,
            Proxy = roles.Contains("proxy") ? Proxy(a, bind) : null,
            Engine = roles.Contains("engine") ? EngineOptionsReader.Read(a, bind, a.Flag("local") ? EmbeddingOrigin.LocalDirectory : EmbeddingOrigin.Cluster) : null,
        };
    }

    internal static ServerOptions Server(ParsedArgs a, IPAddress bind, string dict, string dataDir, int shard, bool managed)
    {
        if (!TableBuilder.IsValidDictName(dict))
        {
            throw new UsageException($"option --dict: '{dict}' is not a valid dict name");
        }

        if (managed && a.Has("watch-seconds") && a.Int("watch-seconds", 0, 86400) > 0)
        {
            // The agent activates versions on the transfer's command; watching the data directory
            // would also activate whatever is copied into it, with no command at all.
            throw new UsageException("option --watch-seconds: not with the agent role, which decides what is live (the transfer commands it)");
        }

        if (a.Int("dict_split", 1, 1024) != 1)
        {
            Console.Error.WriteLine("cube run: note: --dict_split is ignored; each shard has one index");
        }

        return new ServerOptions
        {
            Bind = bind,
            Port = a.Int("port", 0, 65535),
            DataDir = dataDir,
            Dict = dict,
            Shard = shard,
            InMemory = a.Flag("in_mem"),
            Disk = DiskTier(a),
            MergeAfter = a.Int("merge-after", 0, ShardStore.MaxMergeAfter),
            FoldAt = a.Int("fold-at", 0, ShardStore.MaxFoldAt),
            LatencyHistograms = a.Flag("latency-histograms"),
            WatchSeconds = managed ? 0 : a.Int("watch-seconds", 0, 86400),
            MaxPayloadBytes = MaxPayload(a),
            Limits = Limits(a),
            Managed = managed,
            RespPort = a.Has("resp-port") ? a.Int("resp-port", 0, 65535) : null,
            RespToken = a.Get("resp-token-file") is { } respToken ? BearerToken.FromFile(respToken) : null,
        };
    }

    /// <summary>--values disk and its settings, or null (values in memory or mapped).</summary>
    private static DiskTierOptions? DiskTier(ParsedArgs a)
    {
        var values = a.Get("values");
        if (values == "memory")
        {
            foreach (var flag in (string[])["cache-mb", "read-engine", "pread-threads", "disk-concurrency"])
            {
                if (a.Has(flag))
                {
                    throw new UsageException($"--{flag}: only with --values disk");
                }
            }

            return null;
        }

        if (values != "disk")
        {
            throw new UsageException($"option --values: '{values}' is not memory or disk");
        }

        return new DiskTierOptions
        {
            CacheBytes = a.Long("cache-mb", 0, 1L << 30) << 20,
            Engine = a.Get("read-engine") switch
            {
                "uring" => ReadEngine.Uring,
                "pread" => ReadEngine.Pread,
                var other => throw new UsageException($"option --read-engine: '{other}' is not uring or pread"),
            },
            PreadThreads = a.Int("pread-threads", 1, 1024),
            Concurrency = a.Int("disk-concurrency", 1, 4096),
        };
    }

    internal static Core.Proxy.ProxyOptions Proxy(ParsedArgs a, IPAddress bind)
    {
        var conf = a.Require("conf");
        var dicts = CubeConfReader.Read(conf);
        var dict = a.Get("dict") ?? (dicts.Count == 1 ? dicts[0].DictName
            : throw new UsageException($"option --dict: {conf} has {dicts.Count} dicts ({string.Join(", ", dicts.Select(d => d.DictName))}); name the one GET and MGET read"));
        if (dicts.All(d => d.DictName != dict))
        {
            throw new UsageException($"option --dict: '{dict}' is not in {conf} ({string.Join(", ", dicts.Select(d => d.DictName))})");
        }

        return new Core.Proxy.ProxyOptions
        {
            Bind = bind,
            RespPort = a.Has("resp-port") ? a.Int("resp-port", 0, 65535) : 6379,
            ConfPath = Path.GetFullPath(conf),
            Dicts = dicts,
            DefaultDict = dict,
            MaxPayloadBytes = MaxPayload(a),
            Limits = Limits(a),
            RespToken = a.Get("resp-token-file") is { } token ? BearerToken.FromFile(token) : null,
        };
    }

    internal static AgentOptions Agent(ServerOptions server, Uri transfer, BearerToken token, ParsedArgs a) => new()
    {
        DataDir = server.DataDir,
        Dict = server.Dict,
        Shard = server.Shard,
        Transfer = transfer,
        Token = token,
        MaxPackageBytes = a.Long("max-package-gb", 1, 1 << 20) << 30,
        DownloadIdleTimeout = TimeSpan.FromSeconds(a.Int("download-idle-seconds", 1, 86400)),
    };

    internal static Uri TransferUrl(string text) =>
        Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var transfer) && transfer.Scheme is "http" or "https"
            ? transfer
            : throw new UsageException($"option --transfer: '{text}' is not an http(s) URL");

    internal static IPAddress Bind(ParsedArgs a)
    {
        var text = a.Require("bind");
        return IPAddress.TryParse(text, out var bind) ? bind : throw new UsageException($"option --bind: '{text}' is not an IP address");
    }

    internal static int MaxPayload(ParsedArgs a) => a.Int("max-frame-mb", 1, 1024) << 20;

    /// <summary>The data port's limits (server and engine), every one a flag (docs/limits.md).</summary>
    internal static Core.Net.ServerLimits Limits(ParsedArgs a) => new()
    {
        SendTimeout = TimeSpan.FromMilliseconds(a.Int("send-timeout-ms", 1, 3_600_000)),
        MaxConnections = a.Int("max-connections", 1, 1_000_000),
        MaxConnectionsPerPeer = a.Int("max-connections-per-peer", 1, 1_000_000),
        IdleTimeout = TimeSpan.FromSeconds(a.Int("idle-timeout-seconds", 1, 86400 * 7)),
        FrameTimeout = TimeSpan.FromSeconds(a.Int("frame-timeout-seconds", 1, 3600)),
        MaxBufferedBytes = a.Long("max-buffered-mb", 1, 1 << 20) << 20,
        MaxPendingReplies = a.Int("max-pending-replies", 1, 1_000_000),
        MaxPendingReplyBytes = a.Long("max-pending-reply-mb", 1, 1 << 20) << 20,
        BusyPollMicros = a.Int("busy-poll-us", 0, 10_000),
    };

    internal static HttpLimits HttpLimits(ParsedArgs a) => new()
    {
        MaxConnections = a.Int("http-max-connections", 1, 1_000_000),
        HeaderTimeout = TimeSpan.FromSeconds(a.Int("http-header-timeout-seconds", 1, 3600)),
        KeepAlive = TimeSpan.FromSeconds(a.Int("http-idle-seconds", 1, 86400)),
        MaxBodyBytes = a.Long("http-max-body-kb", 1, 4L << 20) << 10,
    };

    internal static TimeSpan LogRepeat(ParsedArgs a) => TimeSpan.FromSeconds(a.Int("log-repeat-seconds", 0, 86400));

    internal static bool JsonLogs(ParsedArgs a) => a.Require("log-format") switch
    {
        "text" => false,
        "json" => true,
        var text => throw new UsageException($"option --log-format: '{text}' is not text or json"),
    };

    internal static LogLevel LogLevel(ParsedArgs a) => a.Require("log-level") switch
    {
        "trace" => Microsoft.Extensions.Logging.LogLevel.Trace,
        "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
        "information" or "info" => Microsoft.Extensions.Logging.LogLevel.Information,
        "warning" or "warn" => Microsoft.Extensions.Logging.LogLevel.Warning,
        "error" => Microsoft.Extensions.Logging.LogLevel.Error,
        var text => throw new UsageException($"option --log-level: '{text}' is not trace, debug, information, warning or error"),
    };

}
