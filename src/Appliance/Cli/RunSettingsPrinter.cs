using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Formats;
using Appliance.Core.Hosting;
using Appliance.Core.Node;
using Appliance.Core.Serving;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run --check</c>'s report: the effective settings of every role and what it would serve,
/// after validating the files they name (model packages are loaded once to check them against
/// their graphs; packages on disk are found, not mapped). A problem is a <see cref="UsageException"/>.
/// </summary>
internal static class RunSettingsPrinter
{
    public static void Print(NodeOptions options, IReadOnlySet<string> roles, string? flagfile)
    {
        var w = Console.Out;
        if (roles.Contains("all"))
        {
            PrintAll(options);
            w.WriteLine("configuration is valid");
            return;
        }

        if (options.Engine is { } engine)
        {
            var packages = engine.Models.Select(m => (m, Validate(m.Directory))).ToList();
            CheckTableFits(engine, packages.Select(p => p.Item2.Spec));
            w.WriteLine("roles          engine");
            w.WriteLine($"models         {string.Join(", ", packages.Select(p => $"{p.m.Directory} ({p.Item2.Timestamp}) weight {p.m.Weight}"))}");
            w.WriteLine($"embeddings     {Describe(engine)}");
            w.WriteLine($"http-port      {options.Host.HttpPort}");
            w.WriteLine($"http limits    {Describe(options.Host.Limits)}");
            PrintGrpc(engine);
            w.WriteLine("configuration is valid");
            return;
        }

        w.WriteLine($"roles          {string.Join(",", roles)}");
        w.WriteLine($"http-port      {options.Host.HttpPort}");
        w.WriteLine($"http limits    {Describe(options.Host.Limits)}");
        if (options.Server is { } server)
        {
            PrintServer(server);
        }

        if (flagfile is not null)
        {
            w.WriteLine($"flagfile       {Path.GetFullPath(flagfile)}");
        }

        if (options.Agent is { } agent)
        {
            w.WriteLine($"transfer       {agent.Transfer}");
        }

        if (options.Transfer is { } transfer)
        {
            PrintTransfer(transfer);
        }

        if (options.Proxy is { } proxy)
        {
            w.WriteLine($"resp-port      {proxy.RespPort} (Redis protocol for the whole cluster, read-only{(proxy.RespToken is null ? ", no AUTH" : ", AUTH required")})");
            w.WriteLine($"conf           {proxy.ConfPath}: {string.Join(", ", proxy.Dicts.Select(d => $"{d.DictName} ({d.Shards} shards × {d.Dup})"))}; GET reads {proxy.DefaultDict}");
        }

        w.WriteLine("configuration is valid");
    }

    private static string Describe(HttpLimits limits) =>
        $"{limits.MaxConnections} connections, headers within {limits.HeaderTimeout.TotalSeconds:0} s, idle {limits.KeepAlive.TotalSeconds:0} s, bodies up to {limits.MaxBodyBytes >> 10} KiB";

    private static void PrintAll(NodeOptions options)
    {
        var w = Console.Out;
        var engine = options.Engine!;
        var spec = Validate(engine.Models[0].Directory).Spec;
        w.WriteLine("roles          all (transfer, server + agent for shard 0 of 1, engine)");
        w.WriteLine($"http-port      {options.Host.HttpPort} (/predict, /status, /metrics, /agent/*, transfer endpoints)");
        w.WriteLine($"http limits    {Describe(options.Host.Limits)}");
        w.WriteLine($"port           {options.Server!.Port} (binary data plane)");
        w.WriteLine($"model          {string.Join(", ", engine.Models.Select(m => m.Directory))} (dict {spec.Dict}, hash {spec.Hash}, value codec {spec.ValueCodec})");
        w.WriteLine($"donefile       {options.Transfer!.DonefileAddress}");
        w.WriteLine($"work-dir       {Path.GetDirectoryName(options.Server.DataDir)} (transfer/, node/, token)");
        PrintGrpc(engine);
    }

    private static void PrintGrpc(EngineOptions engine)
    {
        if (engine.GrpcPort > 0)
        {
            Console.Out.WriteLine($"grpc-port      {engine.GrpcPort} (Open Inference Protocol over gRPC, grpc.health.v1; messages up to {engine.GrpcMaxMessageBytes >> 20} MiB, {engine.GrpcMaxStreams} calls per connection)");
        }
    }

    private static void PrintServer(ServerOptions server)
    {
        var w = Console.Out;
        w.WriteLine($"bind           {server.Bind}");
        w.WriteLine($"port           {server.Port}");
        w.WriteLine($"data-dir       {server.DataDir}");
        w.WriteLine($"dict           {server.Dict}");
        w.WriteLine($"shard          {server.Shard}");
        if (server.Disk is { } disk)
        {
            w.WriteLine($"values         disk (direct reads, {disk.Engine.ToString().ToLowerInvariant()}{(disk.Engine == Core.Storage.ReadEngine.Pread ? $", {disk.PreadThreads} threads" : string.Empty)}; index in memory)");
            w.WriteLine($"cache-mb       {disk.CacheBytes >> 20}");
        }
        else
        {
            w.WriteLine($"in_mem         {server.InMemory.ToString().ToLowerInvariant()}");
        }
        w.WriteLine($"merge-after    {server.MergeAfter}");
        w.WriteLine($"fold-at        {(server.FoldAt == 0 ? "never" : $"{server.FoldAt} % of the base's keys")}");
        w.WriteLine($"watch-seconds  {server.WatchSeconds}");
        w.WriteLine($"max-frame-mb   {server.MaxPayloadBytes >> 20}");
        if (server.RespPort is { } resp)
        {
            w.WriteLine($"resp-port      {resp} (Redis protocol, read-only{(server.RespToken is null ? ", no AUTH" : ", AUTH required")})");
        }

        if (PackageCatalog.ResolveNewest(server.DataDir, server.Dict) is not { } serving)
        {
            // Other dicts there and not this one: a typo in --dict, not a server waiting for its first version.
            if (PackageCatalog.Dicts(server.DataDir) is { Count: > 0 } others)
            {
                throw new UsageException($"option --dict: --data-dir {server.DataDir} holds dict(s) {string.Join(", ", others)}, not '{server.Dict}'");
            }

            w.WriteLine("would serve    nothing yet (no complete version of any dict in --data-dir; an agent stages the first)");
            return;
        }

        if (serving.Base.Info.ShardCount <= server.Shard)
        {
            throw new UsageException($"option --shard {server.Shard}: version {serving.Base.Info.Version} has only {serving.Base.Info.ShardCount} shard(s)");
        }

        var deltas = serving.Deltas.Count == 0 ? string.Empty : " + deltas " + string.Join(", ", serving.Deltas.Select(d => d.Info.Version));
        w.WriteLine($"would serve    base {serving.Base.Info.Version}{deltas} ({serving.Base.Info.ShardCount} shards)");
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

    private static string Describe(EngineOptions engine)
    {
        if (engine.Origin != EmbeddingOrigin.LocalDirectory)
        {
            return $"remote {engine.ClientConf} (on shard failure: {engine.OnShardFailure.ToString().ToLowerInvariant()})";
        }

        var serving = PackageCatalog.ResolveNewest(engine.DataDir!, engine.Dict)!.Value;
        var label = serving.Deltas.Count == 0 ? serving.Base.Info.Version : $"{serving.Base.Info.Version}_{serving.Deltas[^1].Info.Version}";
        return $"local {engine.DataDir} ({serving.Base.Info.ShardCount} shards, version {label})";
    }

    /// <summary>A local table whose rows cannot be the models' embeddings (version.json's dimension)
    /// is refused now, not on the first request.</summary>
    private static void CheckTableFits(EngineOptions engine, IEnumerable<ModelSpec> specs)
    {
        if (engine.Origin != EmbeddingOrigin.LocalDirectory || PackageCatalog.ResolveNewest(engine.DataDir!, engine.Dict) is not { } serving)
        {
            return;
        }

        var info = serving.Base.Info;
        foreach (var spec in specs)
        {
            if (info.Dimension > 0 && info.Codec != "raw" && info.Dimension != spec.EmbeddingDim)
            {
                throw new UsageException($"--data-dir {engine.DataDir}: version {info.Version} of dict '{info.Dict}' holds {info.Dimension} floats per row ({info.Codec}); model.json says embedding_dim {spec.EmbeddingDim}");
            }
        }
    }

    /// <summary>Loads a model package once (its spec against its graph) and releases it.</summary>
    private static (ModelSpec Spec, string Timestamp) Validate(string directory)
    {
        try
        {
            using var package = ModelPackage.Load(directory);
            return (package.Spec, package.Timestamp);
        }
        catch (InputFormatException e)
        {
            throw new UsageException($"option --model: {e.Message}");
        }
    }
}
