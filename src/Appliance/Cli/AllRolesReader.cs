using System.Net;
using System.Security.Cryptography;
using Appliance.Core.Client;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Node;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube run --roles all</c>: the whole serving side on one machine, in one process and on one
/// HTTP port. The transfer polls the trainer's donefiles and builds each version; the agent (one
/// shard, one replica) stages and activates it in the server; the engine scores
/// <c>POST /predict</c> from that server's table in-process, with the model package's dict, hash
/// and value codec.
/// </summary>
internal static class AllRolesReader
{
    /// <summary><c>--roles all</c>: transfer + server + agent (shard 0 of 1) + in-process engine, on
    /// one HTTP port; the transfer reaches the agent over loopback exactly as across machines.
    /// <code>WORK/transfer/{output,tmp}   builds, transfer state     WORK/node   the agent's versions
    /// WORK/token                      bearer token (generated, 0600, unless --token-file)</code></summary>
    public static NodeOptions Read(ParsedArgs a, bool check)
    {
        var bind = RunOptionsReader.Bind(a);
        var engine = EngineOptionsReader.Read(a, bind, EmbeddingOrigin.InProcess) with { DataPort = null }; // --port is the server's
        var work = Path.GetFullPath(a.Get("work-dir") ?? throw new UsageException("--roles all needs --work-dir DIR (builds, versions and the token go there)"));
        var donefile = a.Get("donefile") ?? throw new UsageException("--roles all needs --donefile DIR|URL (where base.txt and patch.txt appear)");
        donefile = donefile.Contains("://", StringComparison.Ordinal) ? donefile : Path.GetFullPath(donefile);
        var spec = ModelPackage.ReadSpec(engine.Models[0].Directory);
        var httpPort = a.Has("http-port") ? a.Int("http-port", 1, 65535) : 8010;
        var self = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : bind.ToString();
        var server = RunOptionsReader.Server(a, bind, spec.Dict, Path.Combine(work, "node"), shard: 0, managed: true);
        BearerToken? token = null;
        if (!check)
        {
            Directory.CreateDirectory(work);
            token = BearerToken.FromFile(a.Get("token-file") ?? TokenFile(Path.Combine(work, "token")));
        }

        return new NodeOptions
        {
            Host = new HostSettings { Bind = bind, HttpPort = httpPort, LogLevel = RunOptionsReader.LogLevel(a), JsonLogs = RunOptionsReader.JsonLogs(a), LogRepeatInterval = RunOptionsReader.LogRepeat(a), Limits = RunOptionsReader.HttpLimits(a) },
            Server = server,
            Agent = token is null ? null : RunOptionsReader.Agent(server, new Uri($"http://{self}:{httpPort}/"), token, a),
            Transfer = new TransferOptions
            {
                DictName = spec.Dict,
                DonefileAddress = donefile,
                OutputAddress = Path.Combine(work, "transfer", "output"),
                TmpAddress = Path.Combine(work, "transfer", "tmp"),
                ShardNum = 1,
                CopyNum = 1,
                Agents = [[new NodeAddress(self, httpPort)]],
                PollSeconds = a.Int("poll-seconds", 1, 86400),
                ValueCodec = ValueCodecs.TryParse(spec.ValueCodec, out var codec) ? codec : ValueCodec.Raw,
            },
            TransferToken = token,
            Engine = engine,
        };
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
