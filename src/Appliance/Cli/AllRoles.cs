using System.Net;
using System.Security.Cryptography;
using Appliance.Core.Client;
using Appliance.Core.Control;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Serving;
using Appliance.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run --roles all</c>: the whole serving side on one machine, in one process and on one
/// HTTP port. The transfer polls the trainer's donefiles and builds each version; the agent (one
/// shard, one replica) stages and activates it in the server; the engine scores
/// <c>POST /predict</c> from that server's store in-process, with the model package's dict, hash
/// and value codec. The transfer reaches the agent over loopback HTTP exactly as it would across
/// machines, so the rollout is the production code path.
/// <code>WORK/transfer/{output,tmp}   builds, transfer state     WORK/node   the agent's versions
/// WORK/token                      bearer token (generated, 0600, unless --token-file)</code>
/// </summary>
internal static class AllRoles
{
    public static int Run(ParsedArgs a, LogLevel logLevel)
    {
        var models = RunCommand.ParseModels(a.Require("model"));
        var work = Path.GetFullPath(a.Get("work-dir") ?? throw new UsageException("--roles all needs --work-dir DIR (builds, versions and the token go there)"));
        var donefile = a.Get("donefile") ?? throw new UsageException("--roles all needs --donefile DIR|URL (where base.txt and patch.txt appear)");
        if (!donefile.Contains("://", StringComparison.Ordinal))
        {
            donefile = Path.GetFullPath(donefile);
        }

        ModelSpec spec;
        try
        {
            using var probe = ModelPackage.Load(models[0].Directory);
            spec = probe.Spec;
        }
        catch (Core.Formats.InputFormatException e)
        {
            throw new UsageException($"option --model: {e.Message}");
        }

        var bindText = a.Require("bind");
        if (!IPAddress.TryParse(bindText, out var bind))
        {
            throw new UsageException($"option --bind: '{bindText}' is not an IP address");
        }

        var httpPort = a.Has("http-port") ? a.Int("http-port", 1, 65535) : 8010;
        var port = a.Int("port", 0, 65535);
        var maxBatch = a.Int("max-batch", 1, 1 << 20);
        var runners = a.Has("runners") ? a.Int("runners", 1, 1024) : 0;
        var pollSeconds = a.Int("poll-seconds", 1, 86400);
        if (a.Flag("check"))
        {
            var w = Console.Out;
            w.WriteLine("roles          all (transfer, server + agent for shard 0 of 1, engine)");
            w.WriteLine($"http-port      {httpPort} (/predict, /status, /metrics, /agent/*, transfer endpoints)");
            w.WriteLine($"port           {port} (binary data plane)");
            w.WriteLine($"model          {string.Join(", ", models.Select(m => m.Directory))} (dict {spec.Dict}, hash {spec.Hash}, value codec {spec.ValueCodec})");
            w.WriteLine($"donefile       {donefile}");
            w.WriteLine($"work-dir       {work} (transfer/, node/, token)");
            w.WriteLine("configuration is valid");
            return 0;
        }

        Directory.CreateDirectory(work);
        var token = a.Get("token-file") ?? TokenFile(Path.Combine(work, "token"));
        var bearer = BearerToken.FromFile(token);
        var self = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : bind.ToString();
        var server = new ServerOptions
        {
            Bind = bind,
            Port = port,
            DataDir = Path.Combine(work, "node"),
            Dict = spec.Dict,
            Shard = 0,
            InMemory = a.Flag("in_mem"),
            MaxPayloadBytes = a.Int("max-frame-mb", 1, 1024) << 20,
            SendTimeout = TimeSpan.FromMilliseconds(a.Int("send-timeout-ms", 1, 3_600_000)),
            Managed = true,
        };
        var agent = new AgentOptions
        {
            DataDir = server.DataDir,
            Dict = spec.Dict,
            Shard = 0,
            Transfer = new Uri($"http://{self}:{httpPort}/"),
            Token = bearer,
        };
        var transfer = new TransferOptions
        {
            DictName = spec.Dict,
            DonefileAddress = donefile,
            OutputAddress = Path.Combine(work, "transfer", "output"),
            TmpAddress = Path.Combine(work, "transfer", "tmp"),
            ShardNum = 1,
            CopyNum = 1,
            Agents = [[new NodeAddress(self, httpPort)]],
            PollSeconds = pollSeconds,
            ValueCodec = ValueCodecs.TryParse(spec.ValueCodec, out var codec) ? codec : ValueCodec.Raw,
        };
        return RunCommand.Serve(server, agent, (transfer, bearer), httpPort, logLevel, bindText, (app, loggers, role) =>
        {
            var engine = new EngineRole(models, new LocalEmbeddingSource(role!.Table), "local (this process's server, shard 0 of 1)", loggers.CreateLogger("cube.engine"), maxBatch, runners);
            engine.Map(app);
            return engine;
        });
    }

    /// <summary>The token file, created with a random token readable only by this user if absent.</summary>
    private static string TokenFile(string path)
    {
        if (!File.Exists(path))
        {
            var text = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant() + "\n";
            var temporary = path + ".tmp";
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new StreamWriter(temporary, System.Text.Encoding.ASCII, options))
            {
                stream.Write(text);
            }

            File.Move(temporary, path, overwrite: true);
        }

        return path;
    }
}
