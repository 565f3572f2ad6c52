using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Client;
using Appliance.Core.Diagnostics;
using Appliance.Core.Net;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube bench lookup</c>: a load generator for a cluster, through the real client.
/// Closed loop (default): connections × pipeline requests always in flight. Open loop
/// (<c>--rate R</c>): requests start on a fixed schedule whether or not earlier ones finished, and
/// latency is measured from the scheduled start, so queueing shows up instead of being hidden.
/// </summary>
internal static partial class BenchCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("conf", "the client's cube.conf (or --address with --raw)", Meta: "FILE"),
        new("dict", "dict name", "the first dict in --conf", Meta: "NAME"),
        new("keys", "file of keys (one per line) to draw from at random", Meta: "FILE"),
        new("key-range", "draw keys from [0, N)", Meta: "N"),
        new("indexed-keys", "draw keys from the N rows of a `cube kv gen --key-scheme index` table (any size; no key list)", Meta: "N"),
        new("zipf", "Zipf-skewed draws with this exponent (e.g. 0.99; rank r drawn in proportion to 1/(r+1)^S); 0 = uniform", "0", Meta: "S"),
        new("batch", "keys per request", "100", Meta: "N"),
        new("connections", "connections per replica", "2", Meta: "C"),
        new("pipeline", "closed loop: requests in flight per connection", "8", Meta: "P"),
        new("duration", "seconds to measure", "10", Meta: "S"),
        new("warmup", "seconds to run before measuring", "1", Meta: "S"),
        new("rate", "open loop: requests per second (0 = closed loop)", "0", Meta: "R"),
        new("tick-us", "open loop: the dispatcher wakes at most this often and starts every request due (latency still counts from each one's scheduled start)", "50", Meta: "US"),
        new("seed", "random seed", "1", Meta: "S"),
        new("data", "measure the store alone: look up in shard --shard of the newest table in DIR, in this process, one thread (no network)", Meta: "DIR"),
        new("shard", "--data: the shard to open", "0", Meta: "N"),
        new("in_mem", "--data: load the shard into memory instead of mapping it", IsFlag: true),
        new("merge-after", "--data: patch layers left unmerged, as the server's --merge-after", "1", Meta: "N"),
        new("fold-at", "--data: patch keys (percent of the base's) from which the base is folded in, as the server's --fold-at; 0 = never", "5", Meta: "PERCENT"),
        new("raw", "measure the server, not the client: a lean generator (blocking sockets, no per-request tasks or timers; one shard, first replica, no retries)", IsFlag: true),
        new("address", "--raw: the server to drive, instead of --conf's first replica", Meta: "HOST:PORT"),
        new("protocol", "--raw: native (lookup frames), brpc (the original clients' DictService.seek over baidu_std, to the data port) or resp (MGET of the keys as 12-digit decimal text, as redis-benchmark writes __rand_int__: the same bytes to cube's --resp-port and to Redis)", "native", Meta: "P"),
    ];

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "stalls")
        {
            return RunStalls(args[1..]);
        }

        if (args.Length == 0 || args[0] != "lookup")
        {
            Console.Out.WriteLine("usage: cube bench lookup --conf cube.conf (--keys FILE | --key-range N | --indexed-keys N) [options]   (cube bench lookup --help)");
            Console.Out.WriteLine("       cube bench stalls [--cpus 0,1] [--duration 10] [--threshold-us 100]   (cube bench stalls --help)");
            return 2;
        }

        var a = ParsedArgs.Parse(args[1..], Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube bench lookup --conf cube.conf (--keys FILE | --key-range N | --indexed-keys N) [options]", "Load generator: prints keys/s, requests/s and latency p50/p90/p99/p99.9.", Options));
            return 0;
        }

        var raw = a.Flag("raw");
        var protocol = a.Has("protocol") ? a.Require("protocol") : "native";
        if (protocol is not ("native" or "resp" or "brpc"))
        {
            throw new UsageException($"option --protocol: '{protocol}' is not native, brpc or resp");
        }

        if (a.Has("data") && (raw || a.Has("address") || a.Has("rate")))
        {
            throw new UsageException("--data measures the store in this process, one thread, closed loop: no --raw, --address or --rate");
        }

        if (!raw && (a.Has("address") || protocol != "native"))
        {
            throw new UsageException("--address and --protocol resp|brpc drive one server: they need --raw");
        }

        IReadOnlyList<DictConf> dicts = (a.Has("address") || a.Has("data")) && !a.Has("conf") ? [] : CubeConfReader.Read(a.Require("conf"));
        var dict = a.Has("dict") ? a.Require("dict") : dicts.Count > 0 ? dicts[0].DictName : "bench";
        NodeAddress? address = null;
        if (a.Has("address") && !NodeAddress.TryParse(a.Require("address"), out address))
        {
            throw new UsageException($"option --address: '{a.Require("address")}' is not HOST:PORT");
        }

        if (raw && address is null)
        {
            var conf = dicts.FirstOrDefault(d => d.DictName == dict) ?? throw new UsageException($"dict {dict} is not in --conf");
            address = conf.Shards == 1 ? conf.Replicas[0][0]
                : throw new UsageException($"--raw measures one server: dict {dict} has {conf.Shards} shards (use the client, without --raw)");
        }

        var keys = a.Has("keys") ? LoadKeys(a.Require("keys")) : null;
        var range = a.Has("key-range") ? a.Long("key-range", 1) : 0;
        var indexed = a.Has("indexed-keys") ? a.Long("indexed-keys", 1) : 0;
        if ((keys is null ? 0 : 1) + (range > 0 ? 1 : 0) + (indexed > 0 ? 1 : 0) != 1)
        {
            throw new UsageException("give one of --keys FILE, --key-range N, --indexed-keys N");
        }

        var zipf = a.Has("zipf") ? a.Double("zipf") : 0;
        if (!(zipf >= 0) || zipf > 100)
        {
            throw new UsageException($"option --zipf: {zipf} is not an exponent in [0, 100] (0 = uniform)");
        }

        if (keys is { Length: 0 })
        {
            throw new UsageException($"option --keys: {a.Require("keys")} has no keys");
        }

        var settings = new Settings(
            dict,
            new KeyDraw(keys, range, indexed, zipf),
            a.Int("batch", 1, 1 << 20),
            a.Int("connections", 1, 1024),
            a.Int("pipeline", 1, 4096),
            TimeSpan.FromSeconds(a.Long("duration", 1, 86400)),
            TimeSpan.FromSeconds(a.Long("warmup", 0, 3600)),
            a.Long("rate", 0),
            a.Int("seed"),
            a.Int("tick-us", 1, 100_000),
            address,
            protocol switch { "resp" => RawProtocol.Resp, "brpc" => RawProtocol.Brpc, _ => RawProtocol.Native });
        if (a.Has("data"))
        {
            return RunInProcess(settings, a.Require("data"), a.Int("shard", 0, 65535), a.Flag("in_mem"), a.Int("merge-after", 0, ShardStore.MaxMergeAfter), a.Int("fold-at", 0, ShardStore.MaxFoldAt));
        }

        return RunAsync(dicts, settings).GetAwaiter().GetResult();
    }

    private sealed record Settings(string Dict, KeyDraw Draw, int Batch, int Connections, int Pipeline, TimeSpan Duration, TimeSpan Warmup, long Rate, int Seed, int TickMicros, NodeAddress? RawTarget, RawProtocol Protocol)
    {
        /// <summary>The lean generator drives <see cref="RawTarget"/> (one server, no client).</summary>
        public bool Raw => RawTarget is not null;
    }

    private sealed class Totals
    {
        public long Requests;
        public long Keys;
        public long Failed;
        public long Missing;
        public string? FirstError;
        public LatencyRecorder Latency { get; } = new();
    }

    /// <summary>"bench: 3 s of 10: 41.2 k requests/s, 4.12 M keys/s, 0 failed".</summary>
    private static string Live(Totals totals, TimeSpan elapsed, TimeSpan duration)
    {
        var seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
        return FormattableString.Invariant($"bench: {elapsed.TotalSeconds:F0} s of {duration.TotalSeconds:F0}: {ProgressMeter.Count(Interlocked.Read(ref totals.Requests) / seconds)} requests/s, {ProgressMeter.Count(Interlocked.Read(ref totals.Keys) / seconds)} keys/s, {Interlocked.Read(ref totals.Failed)} failed");
    }

    private static async Task<int> RunAsync(IReadOnlyList<DictConf> dicts, Settings s)
    {
        await using var client = s.Raw ? null : new CubeClient(dicts, s.Connections);
        var mode = (s.Rate > 0 ? $"open loop at {s.Rate} requests/s" : $"closed loop, {s.Connections} connection(s)/replica × {s.Pipeline} in flight") + (s.Raw ? $", raw generator ({s.Protocol switch { RawProtocol.Resp => "RESP MGET", RawProtocol.Brpc => "baidu_std DictService.seek", _ => "native" }})" : string.Empty);
        var target = client is null ? $"{s.RawTarget}" : $"dict {s.Dict} ({client.Conf(s.Dict).Shards} shard(s))";
        Console.Out.WriteLine($"{target}, batch {s.Batch}, {mode}, warmup {s.Warmup.TotalSeconds:F0} s, measure {s.Duration.TotalSeconds:F0} s");

        // Warm up (connections, JIT-free AOT code paths, page cache), then measure from zero.
        if (s.Warmup > TimeSpan.Zero)
        {
            await Drive(client, s, new Totals(), s.Warmup).ConfigureAwait(false);
        }

        var totals = new Totals();
        var collections = GC.CollectionCount(0);
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        using (ProgressMeter.ForConsole(() => Live(totals, clock.Elapsed, s.Duration)))
        {
            await Drive(client, s, totals, s.Duration).ConfigureAwait(false);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        collections = GC.CollectionCount(0) - collections;
        allocated = GC.GetTotalAllocatedBytes() - allocated;
        var p = totals.Latency.Percentiles(50, 90, 99, 99.9, 100);
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Create(inv, $"requests {totals.Requests}  ({totals.Requests / seconds:F0} requests/s)"));
        Console.Out.WriteLine(string.Create(inv, $"keys     {totals.Keys}  ({totals.Keys / seconds / 1e6:F3} M keys/s)  missing {totals.Missing}  failed {totals.Failed}"));
        Console.Out.WriteLine(string.Create(inv, $"latency  p50 {p[0]} us  p90 {p[1]} us  p99 {p[2]} us  p99.9 {p[3]} us  max {p[4]} us"));
        Console.Out.WriteLine(string.Create(inv, $"client   {collections} gen0 collection(s) while measuring, {allocated / Math.Max(1, totals.Requests)} bytes allocated per request"));
        if (totals.FirstError is not null)
        {
            Console.Out.WriteLine($"first error: {totals.FirstError}");
        }

        return totals.Failed == 0 ? 0 : 1;
    }
}
