using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Client;
using Appliance.Core.Formats;

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
        new("conf", "the client's cube.conf", Meta: "FILE"),
        new("dict", "dict name", "the first dict in --conf", Meta: "NAME"),
        new("keys", "file of keys (one per line) to draw from at random", Meta: "FILE"),
        new("key-range", "draw keys uniformly from [0, N)", Meta: "N"),
        new("batch", "keys per request", "100", Meta: "N"),
        new("connections", "connections per replica", "2", Meta: "C"),
        new("pipeline", "closed loop: requests in flight per connection", "8", Meta: "P"),
        new("duration", "seconds to measure", "10", Meta: "S"),
        new("warmup", "seconds to run before measuring", "1", Meta: "S"),
        new("rate", "open loop: requests per second (0 = closed loop)", "0", Meta: "R"),
        new("tick-us", "open loop: the dispatcher wakes at most this often and starts every request due (latency still counts from each one's scheduled start)", "50", Meta: "US"),
        new("seed", "random seed", "1", Meta: "S"),
        new("raw", "measure the server, not the client: a lean generator (blocking sockets, no per-request tasks or timers; one shard, first replica, no retries)", IsFlag: true),
    ];

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] != "lookup")
        {
            Console.Out.WriteLine("usage: cube bench lookup --conf cube.conf (--keys FILE | --key-range N) [options]   (cube bench lookup --help)");
            return 2;
        }

        var a = ParsedArgs.Parse(args[1..], Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube bench lookup --conf cube.conf (--keys FILE | --key-range N) [options]", "Load generator: prints keys/s, requests/s and latency p50/p90/p99/p99.9.", Options));
            return 0;
        }

        var dicts = CubeConfReader.Read(a.Require("conf"));
        var dict = a.Has("dict") ? a.Require("dict") : dicts[0].DictName;
        var keys = a.Has("keys") ? LoadKeys(a.Require("keys")) : null;
        var range = a.Has("key-range") ? a.Long("key-range", 1) : 0;
        if (keys is null && range == 0)
        {
            throw new UsageException("give --keys FILE or --key-range N");
        }

        var settings = new Settings(
            dict,
            keys,
            range,
            a.Int("batch", 1, 1 << 20),
            a.Int("connections", 1, 1024),
            a.Int("pipeline", 1, 4096),
            TimeSpan.FromSeconds(a.Long("duration", 1, 86400)),
            TimeSpan.FromSeconds(a.Long("warmup", 0, 3600)),
            a.Long("rate", 0),
            a.Int("seed"),
            a.Int("tick-us", 1, 100_000),
            a.Flag("raw"));
        return RunAsync(dicts, settings).GetAwaiter().GetResult();
    }

    private sealed record Settings(string Dict, ulong[]? Keys, long Range, int Batch, int Connections, int Pipeline, TimeSpan Duration, TimeSpan Warmup, long Rate, int Seed, int TickMicros, bool Raw);

    private sealed class Totals
    {
        public long Requests;
        public long Keys;
        public long Failed;
        public long Missing;
        public string? FirstError;
        public LatencyRecorder Latency { get; } = new();
    }

    private static async Task<int> RunAsync(IReadOnlyList<DictConf> dicts, Settings s)
    {
        await using var client = new CubeClient(dicts, s.Connections);
        var shards = client.Conf(s.Dict).Shards;
        var mode = (s.Rate > 0 ? $"open loop at {s.Rate} requests/s" : $"closed loop, {s.Connections} connection(s)/replica × {s.Pipeline} in flight") + (s.Raw ? ", raw generator" : string.Empty);
        Console.Out.WriteLine($"dict {s.Dict} ({shards} shard(s)), batch {s.Batch}, {mode}, warmup {s.Warmup.TotalSeconds:F0} s, measure {s.Duration.TotalSeconds:F0} s");

        // Warm up (connections, JIT-free AOT code paths, page cache), then measure from zero.
        if (s.Warmup > TimeSpan.Zero)
        {
            await Drive(client, s, new Totals(), s.Warmup).ConfigureAwait(false);
        }

        var totals = new Totals();
        var collections = GC.CollectionCount(0);
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        await Drive(client, s, totals, s.Duration).ConfigureAwait(false);
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

    private static Task Drive(CubeClient client, Settings s, Totals totals, TimeSpan duration) =>
        s.Raw ? RawDrive(client.Conf(s.Dict), s, totals, duration)
        : s.Rate > 0 ? OpenLoop(client, s, totals, duration) : ClosedLoop(client, s, totals, duration);

    private static async Task ClosedLoop(CubeClient client, Settings s, Totals totals, TimeSpan duration)
    {
        var replicas = client.Conf(s.Dict).Replicas.Max(r => r.Count);
        var workers = s.Connections * s.Pipeline * replicas;
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var random = new KeyStream((ulong)(s.Seed * 7919 + w));
            var keys = new ulong[s.Batch];
            while (Stopwatch.GetTimestamp() < end)
            {
                Fill(keys, s, random);
                var start = Stopwatch.GetTimestamp();
                await OneRequest(client, s, keys, totals, start).ConfigureAwait(false);
            }
        }))).ConfigureAwait(false);
    }

    /// <summary>Starts requests on a fixed schedule from a dedicated thread that sleeps on the
    /// kernel's high-resolution timer until the next start (spinning would steal the core from the
    /// thread that reads replies; Thread.Sleep is only millisecond-precise).
    /// Latency counts from the scheduled start, so a late dispatcher or a queue shows up in it.</summary>
    private static async Task OpenLoop(CubeClient client, Settings s, Totals totals, TimeSpan duration)
    {
        // Requests in flight plus one for the dispatcher: whoever brings it to zero ends the run.
        // (A counter, not a set of tasks: a set costs a lock and a continuation per request.)
        long pending = 1;
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Done()
        {
            if (Interlocked.Decrement(ref pending) == 0)
            {
                drained.TrySetResult();
            }
        }

        async Task StartOne(ulong[] keys, long scheduled)
        {
            try
            {
                await OneRequest(client, s, keys, totals, scheduled).ConfigureAwait(false);
            }
            finally
            {
                System.Buffers.ArrayPool<ulong>.Shared.Return(keys);
                Done();
            }
        }

        var dispatcher = new Thread(() =>
        {
            var random = new KeyStream((ulong)s.Seed);
            Schedule(s, (long)(duration.TotalSeconds * s.Rate), static () => ClientConnection.Cork(), (index, scheduled) =>
            {
                var keys = System.Buffers.ArrayPool<ulong>.Shared.Rent(s.Batch);
                Fill(keys.AsSpan(0, s.Batch), s, random);
                Interlocked.Increment(ref pending);
                _ = StartOne(keys, scheduled);
            });
            Done();
        })
        { IsBackground = true, Name = "open-loop dispatcher" };
        dispatcher.Start();
        await drained.Task.ConfigureAwait(false); // never block a pool thread: with one core it is the only one
    }

    /// <summary>The open loop's clock: request i is due at start + i / rate. The calling thread
    /// sleeps on the kernel's high-resolution timer (at least <c>--tick-us</c>; spinning would
    /// steal the core from the reader) and starts everything due inside one
    /// <paramref name="burst"/> scope, so each connection sends once per wake-up.</summary>
    private static void Schedule(Settings s, long total, Func<IDisposable> burst, Action<long, long> start)
    {
        var interval = Stopwatch.Frequency / (double)s.Rate;
        var begin = Stopwatch.GetTimestamp();
        for (long i = 0; i < total;)
        {
            var now = Stopwatch.GetTimestamp();
            var due = begin + (long)(i * interval);
            if (now < due)
            {
                var micros = (due - now) * 1_000_000 / Stopwatch.Frequency;
                _ = Core.Native.LibC.usleep((uint)Math.Clamp(micros, s.TickMicros, 100_000));
                continue;
            }

            using (burst())
            {
                for (; i < total && begin + (long)(i * interval) <= now; i++)
                {
                    start(i, begin + (long)(i * interval));
                }
            }
        }
    }

    private static async Task OneRequest(CubeClient client, Settings s, ulong[] keys, Totals totals, long start)
    {
        using var result = await client.LookupAsync(s.Dict, keys.AsMemory(0, s.Batch)).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(start);
        totals.Latency.Record(elapsed.TotalMicroseconds);
        Interlocked.Increment(ref totals.Requests);
        Interlocked.Add(ref totals.Keys, s.Batch);
        var failed = 0;
        var missing = 0;
        foreach (var status in result.Status)
        {
            failed += status == KeyStatus.Failed ? 1 : 0;
            missing += status == KeyStatus.Missing ? 1 : 0;
        }

        if (failed > 0)
        {
            Interlocked.Add(ref totals.Failed, failed);
            Interlocked.CompareExchange(ref totals.FirstError, result.Errors.FirstOrDefault().Error, null);
        }

        Interlocked.Add(ref totals.Missing, missing);
    }

    private static void Fill(Span<ulong> keys, Settings s, KeyStream random)
    {
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = s.Keys is { } pool ? pool[(int)random.Below((ulong)pool.Length)] : random.Below((ulong)s.Range);
        }
    }

    /// <summary>Uniform keys from SplitMix64, reduced with a multiply-high. A seeded
    /// System.Random runs its legacy generator, which cost the open loop's one core 12 %.</summary>
    private sealed class KeyStream(ulong seed)
    {
        private ulong _state = seed;

        public ulong Below(ulong bound)
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return Math.BigMul(z, bound, out _);
        }
    }

    private static ulong[] LoadKeys(string path) =>
        File.ReadLines(path).Select(l => l.Split('\t', ':')[0].Trim()).Where(l => l.Length > 0)
            .Select(l => ulong.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : throw new UsageException($"{path}: '{l}' is not a key")).ToArray();
}
