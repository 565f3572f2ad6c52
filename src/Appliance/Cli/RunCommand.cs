using Appliance.Core.Formats;
using Appliance.Core.Node;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run --roles ROLES [options]</c>: parse the flags (and the original gflags file) into
/// one options record per role, then hand them to <see cref="NodeHost"/>, which runs the roles in
/// this process until SIGTERM or SIGINT and drains. <c>--check</c> validates flags and config
/// files, prints the effective settings and exits (0 valid, 2 invalid) without starting anything.
/// </summary>
internal static class RunCommand
{
    private static readonly string[] KnownRoles = ["server", "agent", "transfer", "engine", "proxy", "all"];

    internal static readonly OptionSpec[] Options =
    [
        new("roles", "comma-separated roles: server, agent (needs server), transfer, engine, proxy (RESP for a whole cluster: --conf, --resp-port); or all (one machine: transfer + server + agent + engine, see --work-dir)", Meta: "ROLES"),
        new("work-dir", "all: where the transfer builds and the agent keeps its versions (created)", Meta: "DIR"),
        new("donefile", "all: directory or http(s) URL holding base.txt / patch.txt (a trainer's OUT/donefile)", Meta: "DIR|URL"),
        new("poll-seconds", "all: how often the transfer reads the donefiles", "2", Meta: "S"),
        new("model", "engine: model package directory (model.onnx, model.json, timestamp); variants with traffic weights: DIR:70,DIR2:30", Meta: "DIR[:W],…"),
        new("local", "engine: serve embeddings from --data-dir (a builder's output) in this process", IsFlag: true),
        new("conf", "engine: fetch embeddings from the cluster in this cube.conf; proxy: the cluster it answers for", Meta: "FILE"),
        new("on-shard-failure", "engine with --conf: zero (missing embeddings) or error (the request fails)", "zero", Meta: "POLICY"),
        new("max-batch", "engine: most samples in one network run (requests queued while runs are busy are merged; 1 = no merging)", "256", Meta: "N"),
        new("runners", "engine: network runs at once (ONNX sessions use one thread each)", "the number of cores", Meta: "N"),
        new("batch-spin-us", "engine: while requests come at most this many µs apart, the loop that hands them to the runners polls an empty queue that long before it parks (no wake-up for the next one; costs CPU while it polls, yielding to other threads); 0 = never", "0", Meta: "US"),
        new("max-samples", "engine: most samples in one predict request (HTTP or opcode); more are refused whole (HTTP 400, error 5)", "10000", Meta: "N"),
        new("max-body-mb", "engine: largest POST /predict body; larger ones get HTTP 413 before parsing", "8", Meta: "MB"),
        new("grpc-port", "engine: also answer the Open Inference Protocol over gRPC (inference.GRPCInferenceService, grpc.health.v1.Health; HTTP/2 cleartext) on this port", "off", Meta: "PORT"),
        new("grpc-max-message-mb", "engine: largest gRPC message received or sent (RESOURCE_EXHAUSTED beyond it)", "8", Meta: "MB"),
        new("grpc-max-streams", "engine: gRPC calls one HTTP/2 connection may have open at once", "100", Meta: "N"),
        new("check", "validate flags and files, print the effective settings, exit 0 (valid) or 2", IsFlag: true),
        new("flagfile", "gflags-style file of --name=value lines (the original conf/gflags.conf); command-line flags win", Meta: "FILE"),
        new("bind", "address the data and HTTP ports listen on", "0.0.0.0", Meta: "ADDR"),
        new("port", "binary data-plane port", "8000", Meta: "PORT"),
        new("http-port", "HTTP port for /status, /metrics and the control plane", "8099 for a transfer alone, 8010 for an engine alone, else 8001", Meta: "PORT"),
        new("token-file", "agent, transfer: file holding the bearer token mutating requests must carry (transfer: overrides token_file in its config)", Meta: "FILE"),
        new("transfer", "agent: the transfer's HTTP address, the only origin packages are downloaded from", Meta: "URL"),
        new("max-package-gb", "agent: largest shard package (index + values) it downloads; larger manifests are refused", "1024", Meta: "GB"),
        new("download-idle-seconds", "agent: a download that receives nothing for this long is dropped (and resumed on the next try)", "60", Meta: "S"),
        new("config", "transfer: transfer.conf (the original INI form, or the same keys as JSON)", Meta: "FILE"),
        new("data-dir", "server: a builder's output directory (newest base of the shard + its deltas is served)", Meta: "DIR"),
        new("dict", "server: dict name; proxy: the dict GET/MGET read (default: the only one in --conf)", Meta: "NAME"),
        new("shard", "server: shard index served", "0", Meta: "I"),
        new("in_mem", "server: fault shard files into RAM at load (false: values stay in the page cache)", "true", Meta: "BOOL"),
        new("values", "server: where a shard's values live: memory (--in_mem says whether faulted in or left to the page cache) or disk (read from the device with direct I/O, hot rows in a row cache of --cache-mb; the index stays in memory, 10.7 bytes per key)", "memory", Meta: "memory|disk"),
        new("cache-mb", "server, --values disk: memory for the row cache (hot rows; 0 = every found key is a device read)", "256", Meta: "MB"),
        new("read-engine", "server, --values disk: how a request's reads go to the device together: uring (io_uring; falls back to pread where the kernel refuses it) or pread (a pool of threads)", "uring", Meta: "uring|pread"),
        new("pread-threads", "server, --values disk: threads of the pread engine", "32", Meta: "N"),
        new("disk-concurrency", "server, --values disk: requests that may wait for their reads at once (each holds a thread meanwhile; more connections queue)", "64", Meta: "N"),
        new("merge-after", "server: patch layers left unmerged on a base before a background merge folds them into one merged layer (a lookup probes at most the base, the merged layer and these); 0 = merge every patch", "1", Meta: "N"),
        new("fold-at", "server: once patch layers hold this percentage of the base's keys, a merge folds the base in too and the view is one layer again (one copy of the base per that many patches); 0 = never", "5", Meta: "PERCENT"),
        new("latency-histograms", "server: time every data-plane request into cube_server_request_duration_seconds (false: to measure their cost)", "true", Meta: "BOOL"),
        new("watch-seconds", "server: poll --data-dir for newer versions every S seconds (0 = off)", "0", Meta: "S"),
        new("resp-port", "server: also answer the Redis protocol (RESP2/3, read-only: GET MGET HGET HMGET EXISTS …) on this port; proxy: its port; same limits as the data port", "server: off; proxy: 6379", Meta: "PORT"),
        new("resp-token-file", "server, proxy: RESP clients must AUTH with the secret in this file (default: no AUTH)", Meta: "FILE"),
        new("max-frame-mb", "largest request payload accepted (a binary frame; a RESP command)", "64", Meta: "MB"),
        new("send-timeout-ms", "a client that takes no byte of a reply for this long is disconnected (a slow reader that keeps reading is not)", "10000", Meta: "MS"),
        new("max-pending-replies", "data and RESP ports: replies one connection may owe that finish later (engine predict, proxy lookups); at this many it stops reading until one is sent", "128", Meta: "N"),
        new("max-pending-reply-mb", "data and RESP ports: computed replies one connection may hold unsent before it stops reading", "64", Meta: "MB"),
        new("busy-poll-us", "data port (server, engine): after a reply, a connection whose client came back within this many µs last time polls its socket that long before waiting in epoll (no wake-up when the next request comes quickly; costs CPU while it polls); 0 = never", "0", Meta: "US"),
        new("max-connections", "data port: connections open at once (more are closed at accept)", "10000", Meta: "N"),
        new("max-connections-per-peer", "data port: connections open at once from one IP address", "1024", Meta: "N"),
        new("idle-timeout-seconds", "data port: a connection that sends nothing for this long between requests is closed", "300", Meta: "S"),
        new("frame-timeout-seconds", "data port: a request must arrive whole within this time of its first byte", "30", Meta: "S"),
        new("max-buffered-mb", "data port: receive memory all connections may hold for large requests (beyond 64 KiB each); a request that would exceed it is refused (error 8, Overloaded)", "1024", Meta: "MB"),
        new("http-max-connections", "HTTP port: connections open at once (more are closed at accept)", "4096", Meta: "N"),
        new("http-header-timeout-seconds", "HTTP port: a request line and headers must arrive within this time (slow clients are disconnected)", "10", Meta: "S"),
        new("http-idle-seconds", "HTTP port: a keep-alive connection without a request for this long is closed", "60", Meta: "S"),
        new("http-max-body-kb", "HTTP port: largest request body on routes without their own limit (/predict has --max-body-mb); larger get 413", "1024", Meta: "KB"),
        new("log-format", "text (one line per event) or json (one JSON object per event, for journald/Loki)", "text", Meta: "FORMAT"),
        new("log-level", "trace, debug, information, warning, error", "information", Meta: "LEVEL"),
        new("log-repeat-seconds", "an identical warning or error is logged at most once per this many seconds, the next with the count held back (0: every one)", "10", Meta: "S"),
        new("dict_split", "accepted from the original gflags.conf; ignored (one index per shard needs no splitting)", "1", Meta: "N"),
        new("log_dir", "accepted from the original gflags.conf; ignored (logs go to stdout / journald)", Meta: "DIR"),
    ];

    public static int Run(string[] args)
    {
        var initial = ParsedArgs.Parse(args, Options);
        if (initial.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube run --roles ROLES [options]", "Runs roles in this process until SIGTERM/SIGINT, then drains connections and exits 0.", Options));
            return 0;
        }

        var a = WithFlagfile(args, initial);
        var roles = ParseRoles(a.Require("roles"));
        var check = a.Flag("check");
        NodeOptions options;
        try
        {
            options = RunOptionsReader.Read(a, roles, check);
        }
        catch (Exception e) when (check && e is InputFormatException or IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            // --check answers 0 (valid) or 2 (invalid), like nginx -t: whatever made it invalid.
            throw new UsageException(e.Message);
        }

        if (check)
        {
            RunSettingsPrinter.Print(options, roles, a.Get("flagfile"));
            return 0;
        }

        return NodeHost.Run(options);
    }

    /// <summary>Flag-file lines become options in front of the command line, so the command line wins.</summary>
    private static ParsedArgs WithFlagfile(string[] args, ParsedArgs initial)
    {
        if (initial.Get("flagfile") is not { } path)
        {
            return initial;
        }

        var known = Options.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var merged = new List<string>();
        foreach (var (name, value, line) in GflagsFile.Read(path))
        {
            if (!known.Contains(name) || name is "flagfile" or "check")
            {
                throw new UsageException($"{path}: line {line}: unknown flag --{name}");
            }

            merged.Add($"--{name}={value}");
        }

        merged.AddRange(args);
        return ParsedArgs.Parse(merged, Options);
    }

    private static HashSet<string> ParseRoles(string text)
    {
        var roles = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if (roles.Contains("all") && roles.Count > 1)
        {
            throw new UsageException("--roles all already includes every role; give it alone");
        }

        foreach (var role in roles)
        {
            if (!KnownRoles.Contains(role))
            {
                throw new UsageException($"--roles: unknown role '{role}' (known: {string.Join(", ", KnownRoles)})");
            }
        }

        return roles.Count > 0 ? roles : throw new UsageException("--roles: no role given");
    }
}
