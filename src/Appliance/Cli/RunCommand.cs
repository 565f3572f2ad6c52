using System.Net;
using Appliance.Core.Control;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Formats;
using Appliance.Core.Serving;
using Microsoft.Extensions.DependencyInjection;
using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run --roles ROLES [options]</c>: runs a set of roles in this process until SIGTERM or
/// SIGINT, then drains. <c>--check</c> validates flags and config files, prints the effective
/// settings and exits (0 valid, 2 invalid) without starting anything.
/// </summary>
internal static class RunCommand
{
    private static readonly string[] KnownRoles = ["server", "agent", "transfer", "engine", "all"];
    private static readonly string[] AvailableRoles = ["server", "agent", "transfer", "engine", "all"];

    internal static readonly OptionSpec[] Options =
    [
        new("roles", "comma-separated roles: server, agent (needs server), transfer, engine; or all (one machine: transfer + server + agent + engine, see --work-dir)", Meta: "ROLES"),
        new("work-dir", "all: where the transfer builds and the agent keeps its versions (created)", Meta: "DIR"),
        new("donefile", "all: directory or http(s) URL holding base.txt / patch.txt (a trainer's OUT/donefile)", Meta: "DIR|URL"),
        new("poll-seconds", "all: how often the transfer reads the donefiles", "2", Meta: "S"),
        new("model", "engine: model package directory (model.onnx, model.json, timestamp); variants with traffic weights: DIR:70,DIR2:30", Meta: "DIR[:W],…"),
        new("local", "engine: serve embeddings from --data-dir (a builder's output) in this process", IsFlag: true),
        new("conf", "engine: fetch embeddings from the cluster in this cube.conf", Meta: "FILE"),
        new("on-shard-failure", "engine with --conf: zero (missing embeddings) or error (the request fails)", "zero", Meta: "POLICY"),
        new("max-batch", "engine: most samples in one network run (requests queued while runs are busy are merged; 1 = no merging)", "256", Meta: "N"),
        new("runners", "engine: network runs at once (ONNX sessions use one thread each)", "the number of cores", Meta: "N"),
        new("check", "validate flags and files, print the effective settings, exit 0 (valid) or 2", IsFlag: true),
        new("flagfile", "gflags-style file of --name=value lines (the original conf/gflags.conf); command-line flags win", Meta: "FILE"),
        new("bind", "address the data and HTTP ports listen on", "0.0.0.0", Meta: "ADDR"),
        new("port", "binary data-plane port", "8000", Meta: "PORT"),
        new("http-port", "HTTP port for /status, /metrics and the control plane", "8099 for a transfer alone, else 8001", Meta: "PORT"),
        new("token-file", "agent, transfer: file holding the bearer token mutating requests must carry (transfer: overrides token_file in its config)", Meta: "FILE"),
        new("transfer", "agent: the transfer's HTTP address, the only origin packages are downloaded from", Meta: "URL"),
        new("config", "transfer: transfer.conf (the original INI form, or the same keys as JSON)", Meta: "FILE"),
        new("data-dir", "server: a builder's output directory (newest base of the shard + its deltas is served)", Meta: "DIR"),
        new("dict", "server: dict name", Meta: "NAME"),
        new("shard", "server: shard index served", "0", Meta: "I"),
        new("in_mem", "server: fault shard files into RAM at load (false: values stay in the page cache)", "true", Meta: "BOOL"),
        new("watch-seconds", "server: poll --data-dir for newer versions every S seconds (0 = off)", "0", Meta: "S"),
        new("max-frame-mb", "largest request payload accepted", "64", Meta: "MB"),
        new("send-timeout-ms", "a client that does not read its replies for this long is disconnected", "10000", Meta: "MS"),
        new("log-level", "trace, debug, information, warning, error", "information", Meta: "LEVEL"),
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
        if (roles.Contains("all"))
        {
            return AllRoles.Run(a, ParseLogLevel(a.Require("log-level")));
        }

        if (roles.Contains("engine") && roles.Count > 1)
        {
            throw new UsageException("--roles: the engine runs in a process of its own (--roles engine) or with every role (--roles all)");
        }

        var server = roles.Contains("server") ? ServerOptionsFrom(a) with { Managed = roles.Contains("agent") } : null;
        var httpPort = a.Has("http-port") ? a.Int("http-port", 0, 65535) : roles.SetEquals(["transfer"]) ? 8099 : roles.SetEquals(["engine"]) ? 8010 : 8001;
        var logLevel = ParseLogLevel(a.Require("log-level"));
        if (server is { Managed: false })
        {
            CheckServer(server); // with an agent, the agent creates and fills its data directory
        }

        if (roles.Contains("engine"))
        {
            return ServeEngine(a, httpPort, logLevel); // validates and, with --check, stops there
        }

        var agent = roles.Contains("agent") ? AgentOptionsFrom(a, server) : null;
        var transfer = roles.Contains("transfer") ? TransferFrom(a) : default;
        if (a.Flag("check"))
        {
            PrintSettings(roles, server, httpPort, a);
            if (agent is not null)
            {
                Console.Out.WriteLine($"transfer       {agent.Transfer}");
            }

            if (transfer.Options is { } t)
            {
                PrintTransfer(t);
            }

            Console.Out.WriteLine("configuration is valid");
            return 0;
        }

        return Serve(server, agent, transfer, httpPort, logLevel, a.Require("bind"));
    }

    private static int ServeEngine(ParsedArgs a, int httpPort, LogLevel logLevel)
    {
        var models = ParseModels(a.Require("model"));
        var modelDirectory = models[0].Directory;
        var reporters = new List<IRoleReporter>();
        var app = HttpHost.Build(IPAddress.Parse(a.Require("bind")), httpPort, reporters, logLevel);
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var log = loggers.CreateLogger("cube");
        Core.Storage.LocalTable? table = null;
        Core.Client.CubeClient? client = null;
        Core.Net.TcpServer? tcp = null;
        EngineRole engine;
        try
        {
            using var probe = ModelPackage.Load(modelDirectory);
            var dict = probe.Spec.Dict;
            foreach (var (other, _) in models.Skip(1))
            {
                using var variant = ModelPackage.Load(other);
                if (variant.Spec.Dict != dict)
                {
                    throw new UsageException($"option --model: {other} reads dict '{variant.Spec.Dict}', {modelDirectory} reads '{dict}'; variants share one table");
                }
            }
            IEmbeddingSource source;
            string sourceName;
            if (a.Flag("local"))
            {
                var dataDir = Path.GetFullPath(a.Require("data-dir"));
                if (Core.Storage.PackageCatalog.ResolveNewest(dataDir, dict) is null)
                {
                    throw new UsageException($"--data-dir {dataDir}: no complete base of dict '{dict}' (named by model.json)");
                }

                table = Core.Storage.LocalTable.OpenNewest(dataDir, dict, a.Flag("in_mem"));
                source = new LocalEmbeddingSource(table);
                sourceName = $"local {dataDir} ({table.Shards.Count} shards, version {table.Store(0).Live!.VersionLabel})";
            }
            else
            {
                var conf = a.Get("conf") ?? throw new UsageException("the engine needs --local (with --data-dir) or --conf cube.conf");
                var policy = a.Require("on-shard-failure");
                if (policy is not ("zero" or "error"))
                {
                    throw new UsageException($"option --on-shard-failure: '{policy}' is not zero or error");
                }

                client = new Core.Client.CubeClient(CubeConfReader.Read(conf));
                source = new RemoteEmbeddingSource(client, dict, policy);
                sourceName = $"remote {Path.GetFullPath(conf)} (on shard failure: {policy})";
            }

            engine = new EngineRole(models, source, sourceName, loggers.CreateLogger("cube.engine"), a.Int("max-batch", 1, 1 << 20), a.Has("runners") ? a.Int("runners", 1, 1024) : 0);
            engine.Map(app);
            reporters.Add(engine);
            if (a.Flag("check"))
            {
                Console.Out.WriteLine($"roles          engine\nmodels         {string.Join(", ", engine.GetStatus().Variants.Select(v => $"{v.Model} ({v.ModelVersion}) weight {v.Weight}"))}\nembeddings     {sourceName}\nhttp-port      {httpPort}\nconfiguration is valid");
                return 0;
            }

            if (a.Has("port"))
            {
                // The binary protocol's predict opcode, on --port (HTTP stays on --http-port).
                tcp = new Core.Net.TcpServer(new IPEndPoint(IPAddress.Parse(a.Require("bind")), a.Int("port", 0, 65535)), new Core.Protocol.FrameSessionFactory(new EngineFrameHandler(engine), a.Int("max-frame-mb", 1, 1024) << 20), new Core.Net.ServerLimits { SendTimeout = TimeSpan.FromMilliseconds(a.Int("send-timeout-ms", 1, 3_600_000)) }, loggers.CreateLogger("cube.net"));
                tcp.Start();
            }

            app.StartAsync().GetAwaiter().GetResult();
            engine.Start();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or InputFormatException or System.Net.Sockets.SocketException or ArgumentException)
        {
            Console.Error.WriteLine($"cube run: cannot start the engine: {e.Message}");
            return 1;
        }

        HostLog.Ready(log, tcp?.Port ?? 0, HttpHost.BoundPort(app));
        SystemdNotifier.Notify("READY=1");
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        SystemdNotifier.Notify("STOPPING=1");
        tcp?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        client?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        table?.Dispose();

        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        HostLog.Stopped(log);
        return 0;
    }

    /// <summary>DIR or DIR:WEIGHT, comma-separated (weight 1 when omitted).</summary>
    internal static List<(string Directory, int Weight)> ParseModels(string text)
    {
        var models = new List<(string, int)>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = item.LastIndexOf(':');
            var weight = 1;
            var directory = item;
            if (colon > 0 && int.TryParse(item[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var w))
            {
                weight = w;
                directory = item[..colon];
            }

            models.Add((Path.GetFullPath(directory), weight));
        }

        return models.Count > 0 ? models : throw new UsageException("option --model: no model package given");
    }

    private static AgentOptions AgentOptionsFrom(ParsedArgs a, ServerOptions? server)
    {
        if (server is null)
        {
            throw new UsageException("--roles: the agent role controls the server role of its own process; run --roles server,agent");
        }

        var text = a.Require("transfer");
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var transfer) || transfer.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"option --transfer: '{text}' is not an http(s) URL");
        }

        return new AgentOptions
        {
            DataDir = server.DataDir,
            Dict = server.Dict,
            Shard = server.Shard,
            Transfer = transfer,
            Token = BearerToken.FromFile(a.Require("token-file")),
        };
    }

    private static (TransferOptions? Options, BearerToken? Token) TransferFrom(ParsedArgs a)
    {
        var options = TransferConfReader.Read(a.Require("config"));
        var tokenFile = a.Get("token-file") ?? options.TokenFile
            ?? throw new UsageException("the transfer needs a bearer token: --token-file FILE or token_file: in its config");
        return (options, BearerToken.FromFile(tokenFile));
    }

    private static void PrintTransfer(TransferOptions t)
    {
        var w = Console.Out;
        w.WriteLine($"dict_name      {t.DictName}");
        w.WriteLine($"mode           {t.Mode}");
        w.WriteLine($"donefile       {t.DonefileAddress}");
        w.WriteLine($"output         {t.OutputAddress}");
        w.WriteLine($"tmp            {t.TmpAddress}");
        w.WriteLine($"shards×copies  {t.ShardNum}×{t.CopyNum}");
        for (var s = 0; s < t.ShardNum; s++)
        {
            w.WriteLine($"  shard {s}      agents {string.Join(", ", t.Agents[s])}");
        }

        w.WriteLine($"down_policy    {t.DownPolicy} (max_attempts {t.MaxAttempts}, parallelism {t.Parallelism})");
        foreach (var (key, value) in t.Ignored)
        {
            w.WriteLine($"note           {key}: {value} is accepted from the original and not needed (the builder runs in-process; agents download from this HTTP port)");
        }
    }

    /// <summary>Runs the server, agent and transfer roles given; <paramref name="engineFactory"/>
    /// adds an engine on the same HTTP host (--roles all), reading the server's store.</summary>
    internal static int Serve(ServerOptions? server, AgentOptions? agentOptions, (TransferOptions? Options, BearerToken? Token) transferOptions, int httpPort, LogLevel logLevel, string bindText, Func<Microsoft.AspNetCore.Builder.WebApplication, ILoggerFactory, ServerRole?, EngineRole>? engineFactory = null)
    {
        var bind = IPAddress.Parse(bindText);
        var reporters = new List<IRoleReporter>();
        var app = HttpHost.Build(bind, httpPort, reporters, logLevel);
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var http = app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("cube");
        var log = loggers.CreateLogger("cube");
        var role = server is null ? null : new ServerRole(server, loggers);
        AgentRole? agent = null;
        TransferRole? transfer = null;
        EngineRole? engine = null;
        try
        {
            if (role is not null)
            {
                reporters.Add(new ShardReporter(role.Service));
            }

            if (agentOptions is not null)
            {
                agent = new AgentRole(agentOptions, role!.Table, http, loggers.CreateLogger("cube.agent"));
                agent.LoadActive();
                AgentEndpoints.Map(app, agent);
                reporters.Add(new AgentReporter(agent));
            }

            if (transferOptions.Options is { } t)
            {
                transfer = new TransferRole(t, transferOptions.Token!, http, loggers.CreateLogger("cube.transfer"));
                TransferEndpoints.Map(app, transfer);
                reporters.Add(new TransferReporter(transfer));
            }

            if (engineFactory is not null)
            {
                engine = engineFactory(app, loggers, role);
                reporters.Add(engine);
            }

            role?.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
            app.StartAsync().GetAwaiter().GetResult();
            transfer?.Start();
            engine?.Start();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException or InputFormatException or ArgumentException)
        {
            Console.Error.WriteLine($"cube run: cannot start: {e.Message}");
            engine?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            role?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 1;
        }

        HostLog.Ready(log, role?.Port ?? 0, HttpHost.BoundPort(app));
        SystemdNotifier.Notify("READY=1");
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        SystemdNotifier.Notify("STOPPING=1");
        HostLog.Stopping(log);
        transfer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        engine?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        role?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        agent?.Dispose();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        HostLog.Stopped(log);
        return 0;
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

            if (!AvailableRoles.Contains(role))
            {
                throw new UsageException($"--roles: the {role} role is not in this build yet");
            }
        }

        return roles.Count > 0 ? roles : throw new UsageException("--roles: no role given");
    }

    private static ServerOptions ServerOptionsFrom(ParsedArgs a)
    {
        var bindText = a.Require("bind");
        if (!IPAddress.TryParse(bindText, out var bind))
        {
            throw new UsageException($"option --bind: '{bindText}' is not an IP address");
        }

        var dict = a.Require("dict");
        if (!Core.Storage.TableBuilder.IsValidDictName(dict))
        {
            throw new UsageException($"option --dict: '{dict}' is not a valid dict name");
        }

        if (a.Int("dict_split", 1, 1024) != 1)
        {
            Console.Error.WriteLine("cube run: note: --dict_split is ignored; each shard has one index");
        }

        return new ServerOptions
        {
            Bind = bind,
            Port = a.Int("port", 0, 65535),
            DataDir = Path.GetFullPath(a.Require("data-dir")),
            Dict = dict,
            Shard = a.Int("shard", 0, 65535),
            InMemory = a.Flag("in_mem"),
            WatchSeconds = a.Int("watch-seconds", 0, 86400),
            MaxPayloadBytes = a.Int("max-frame-mb", 1, 1024) << 20,
            SendTimeout = TimeSpan.FromMilliseconds(a.Int("send-timeout-ms", 1, 3_600_000)),
        };
    }

    private static void CheckServer(ServerOptions server)
    {
        if (!Directory.Exists(server.DataDir))
        {
            throw new UsageException($"option --data-dir: {server.DataDir} does not exist");
        }
    }

    private static LogLevel ParseLogLevel(string text) => text switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => throw new UsageException($"option --log-level: '{text}' is not trace, debug, information, warning or error"),
    };

    private static void PrintSettings(HashSet<string> roles, ServerOptions? server, int httpPort, ParsedArgs a)
    {
        var w = Console.Out;
        w.WriteLine($"roles          {string.Join(",", roles)}");
        w.WriteLine($"http-port      {httpPort}");
        if (server is not null)
        {
            w.WriteLine($"bind           {server.Bind}");
            w.WriteLine($"port           {server.Port}");
            w.WriteLine($"data-dir       {server.DataDir}");
            w.WriteLine($"dict           {server.Dict}");
            w.WriteLine($"shard          {server.Shard}");
            w.WriteLine($"in_mem         {server.InMemory.ToString().ToLowerInvariant()}");
            w.WriteLine($"watch-seconds  {server.WatchSeconds}");
            w.WriteLine($"max-frame-mb   {server.MaxPayloadBytes >> 20}");
            var serving = Core.Storage.PackageCatalog.ResolveNewest(server.DataDir, server.Dict);
            if (serving is { } s)
            {
                if (s.Base.Info.ShardCount <= server.Shard)
                {
                    throw new UsageException($"option --shard {server.Shard}: version {s.Base.Info.Version} has only {s.Base.Info.ShardCount} shard(s)");
                }

                var deltas = s.Deltas.Count == 0 ? string.Empty : " + deltas " + string.Join(", ", s.Deltas.Select(d => d.Info.Version));
                w.WriteLine($"would serve    base {s.Base.Info.Version}{deltas} ({s.Base.Info.ShardCount} shards)");
            }
            else
            {
                w.WriteLine("would serve    nothing yet (no complete base of this dict in --data-dir)");
            }
        }

        if (a.Get("flagfile") is { } flagfile)
        {
            w.WriteLine($"flagfile       {Path.GetFullPath(flagfile)}");
        }

    }
}
