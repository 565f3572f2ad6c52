using System.Net;
using Appliance.Core.Engine;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>The engine's flags → <see cref="EngineOptions"/> (for <c>--roles engine</c> and <c>all</c>).</summary>
internal static class EngineOptionsReader
{
    public static EngineOptions Read(ParsedArgs a, IPAddress bind, EmbeddingOrigin origin)
    {
        var models = ParseModels(a.Require("model"));
        var dict = SharedDict(models);
        var policy = a.Require("on-shard-failure") switch
        {
            "zero" => ShardFailurePolicy.Zero,
            "error" => ShardFailurePolicy.Error,
            var other => throw new UsageException($"option --on-shard-failure: '{other}' is not zero or error"),
        };
        if (origin == EmbeddingOrigin.Cluster && a.Get("conf") is null)
        {
            throw new UsageException("the engine needs --local (with --data-dir) or --conf cube.conf");
        }

        if (origin == EmbeddingOrigin.Cluster)
        {
            var dicts = Core.Client.CubeConfReader.Read(a.Require("conf"));
            if (!dicts.Any(d => d.DictName == dict))
            {
                throw new UsageException($"option --conf: {a.Require("conf")} has no dict '{dict}' (the dict model.json names); it has {string.Join(", ", dicts.Select(d => d.DictName))}");
            }
        }

        var dataDir = origin == EmbeddingOrigin.LocalDirectory ? Path.GetFullPath(a.Require("data-dir")) : null;
        if (dataDir is not null)
        {
            var newest = PackageCatalog.ResolveNewest(dataDir, dict)
                ?? throw new UsageException($"--data-dir {dataDir}: no complete base of dict '{dict}' (named by model.json)");
            // Every shard must be there: an agent's directory holds its own shard only.
            var absent = Enumerable.Range(0, newest.Base.Info.ShardCount).Where(s => !Directory.Exists(newest.Base.ShardDirectory(s))).ToList();
            if (absent.Count > 0)
            {
                throw new UsageException($"--data-dir {dataDir}: version {newest.Base.Info.Version} of dict '{dict}' lacks shard(s) {string.Join(", ", absent)} of {newest.Base.Info.ShardCount} (an agent's directory holds one shard): --local needs a builder's output with every shard; to read a cluster, use --conf cube.conf");
            }
        }

        return new EngineOptions
        {
            Models = models,
            Dict = dict,
            Origin = origin,
            DataDir = dataDir,
            ClientConf = origin == EmbeddingOrigin.Cluster ? Path.GetFullPath(a.Require("conf")) : null,
            OnShardFailure = policy,
            InMemory = a.Flag("in_mem"),
            MaxBatch = a.Int("max-batch", 1, 1 << 20),
            Runners = a.Has("runners") ? a.Int("runners", 1, 1024) : 0,
            BatchSpinMicros = a.Int("batch-spin-us", 0, 10_000),
            Bind = bind,
            DataPort = a.Has("port") ? a.Int("port", 0, 65535) : null,
            MaxPayloadBytes = RunOptionsReader.MaxPayload(a),
            Limits = RunOptionsReader.Limits(a),
            MaxSamples = a.Int("max-samples", 1, 10_000_000),
            MaxBodyBytes = a.Long("max-body-mb", 1, 4096) << 20,
            GrpcPort = a.Has("grpc-port") ? a.Int("grpc-port", 1, 65535) : 0,
            GrpcMaxMessageBytes = a.Int("grpc-max-message-mb", 1, 1024) << 20,
            GrpcMaxStreams = a.Int("grpc-max-streams", 1, 100_000),
        };
    }

    /// <summary>The dict every variant reads, from model.json only (no ONNX session: the engine
    /// loads each package once, when it starts).</summary>
    private static string SharedDict(List<ModelChoice> models)
    {
        string? dict = null;
        foreach (var model in models)
        {
            ModelSpec spec;
            try
            {
                spec = ModelPackage.ReadSpec(model.Directory);
            }
            catch (InputFormatException e)
            {
                throw new UsageException($"option --model: {e.Message}");
            }

            if (dict is not null && spec.Dict != dict)
            {
                throw new UsageException($"option --model: {model.Directory} reads dict '{spec.Dict}', {models[0].Directory} reads '{dict}'; variants share one table");
            }

            dict = spec.Dict;
        }

        return dict!;
    }

    /// <summary>DIR or DIR:WEIGHT, comma-separated (weight 1 when omitted).</summary>
    public static List<ModelChoice> ParseModels(string text)
    {
        var models = new List<ModelChoice>();
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

            models.Add(new ModelChoice(Path.GetFullPath(directory), weight));
        }

        return models.Count > 0 ? models : throw new UsageException("option --model: no model package given");
    }
}
