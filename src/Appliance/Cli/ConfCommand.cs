using System.Text;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;

namespace Appliance.Cli;

/// <summary>
/// <c>cube conf client --from transfer.conf</c>: the client's <c>cube.conf</c> for the topology a
/// transfer.conf already holds (its <c>cube&lt;shard&gt;_&lt;replica&gt;</c> data addresses), so the
/// topology is written once. The output is the original format (one object per dict,
/// <c>ipport_list</c> nodes, one per shard, replicas comma-separated), read back by the same reader
/// the client and the engine use before it is written (atomically) or printed.
/// </summary>
internal static class ConfCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("from", "the transfer.conf whose cube<shard>_<replica> lines name the servers", Meta: "FILE"),
        new("out", "write here (atomically) instead of printing", Meta: "FILE"),
        new("timeout", "per-request timeout in ms (cube.conf's timeout)", "1000", Meta: "MS"),
        new("retry", "retries on another replica (cube.conf's retry)", "2", Meta: "N"),
        new("backup-request", "ms after which a second replica is asked too, 0 = never (cube.conf's backup_request)", "0", Meta: "MS"),
        new("load-balancer", "rr, random, la, wrr, c_murmurhash or c_md5", "rr", Meta: "NAME"),
    ];

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] is "--help" or "-h" or "help")
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube conf client --from transfer.conf [options]", "Writes the client's cube.conf for the servers a transfer.conf names (cube<shard>_<replica>: host:port[:dir]).", Options));
            return 0;
        }

        if (args.Length == 0 || args[0] != "client")
        {
            throw new UsageException("usage: cube conf client --from transfer.conf [--out cube.conf] [--timeout MS --retry N --backup-request MS]");
        }

        var a = ParsedArgs.Parse(args[1..], Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube conf client --from transfer.conf [options]", "Writes the client's cube.conf for the servers a transfer.conf names (cube<shard>_<replica>: host:port[:dir]).", Options));
            return 0;
        }

        var from = a.Require("from");
        var transfer = TransferConfReader.Read(from);
        if (transfer.Cubes.Count == 0)
        {
            throw new InputFormatException(from, "section [cube_agent]", "no cube<shard>_<replica> lines: the servers' data addresses are needed for a cube.conf");
        }

        var text = Write(transfer, a.Int("timeout", 1, 600_000), a.Int("retry", 0, 100), a.Int("backup-request", 0, 600_000), a.Require("load-balancer"));
        var bytes = Encoding.UTF8.GetBytes(text);
        CubeConfReader.Parse(bytes, "the generated cube.conf"); // what the client will read, checked now
        if (a.Get("out") is { } output)
        {
            AtomicFile.Write(output, bytes);
            Console.Error.WriteLine($"wrote {output}: dict {transfer.DictName}, {transfer.Cubes.Count} shard(s) × {transfer.Cubes.Max(r => r.Count)} replica(s)");
        }
        else
        {
            Console.Out.Write(text);
        }

        return 0;
    }

    private static string Write(TransferOptions transfer, int timeout, int retry, int backupRequest, string balancer)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            json.WriteStartObject();
            json.WriteString("dict_name", transfer.DictName);
            json.WriteNumber("shard", transfer.Cubes.Count);
            json.WriteNumber("dup", transfer.Cubes.Max(r => r.Count));
            json.WriteNumber("timeout", timeout);
            json.WriteNumber("retry", retry);
            json.WriteNumber("backup_request", backupRequest);
            json.WriteString("type", "ipport_list");
            json.WriteString("load_balancer", balancer);
            json.WriteStartArray("nodes");
            foreach (var replicas in transfer.Cubes)
            {
                json.WriteStartObject();
                json.WriteString("ipport_list", "list://" + string.Join(",", replicas.Select(r => $"{r.Host}:{r.Port}")));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";
    }
}
