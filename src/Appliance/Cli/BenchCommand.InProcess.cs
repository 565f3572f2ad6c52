using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Storage;

namespace Appliance.Cli;

internal static partial class BenchCommand
{
    /// <summary>
    /// <c>--data DIR</c>: the store alone, no network — one thread looks up batches in one shard of
    /// the newest table in DIR, opened as a server opens it (mmap, or --in_mem). The figure the
    /// wire's keys/s per server core is measured against: what is left is the protocol and the
    /// kernel's sockets. Prints the same lines as the other modes.
    /// </summary>
    private static int RunInProcess(Settings s, string data, int shard, bool inMemory, int mergeAfter, int foldAt)
    {
        using var table = LocalTable.OpenNewest(data, s.Dict, [shard], inMemory, mergeAfter, foldAt);
        var store = table.Store(shard);
        var layers = store.Live?.Layers.Count ?? 0;
        Console.Out.WriteLine($"in process: {data} dict {s.Dict} shard {shard} ({(inMemory ? "in memory" : "mmap")}, {layers} read layer(s)), batch {s.Batch}, {s.Draw}, one thread, warmup {s.Warmup.TotalSeconds:F0} s, measure {s.Duration.TotalSeconds:F0} s");
        var random = new KeyStream((ulong)s.Seed);
        var keys = new ulong[s.Batch];
        var results = new ValueRef[s.Batch];
        Loop(s.Warmup, new Totals());
        var totals = new Totals();
        var clock = Stopwatch.StartNew();
        Loop(s.Duration, totals);
        var seconds = clock.Elapsed.TotalSeconds;
        var p = totals.Latency.Percentiles(50, 90, 99, 99.9, 100);
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Create(inv, $"requests {totals.Requests}  ({totals.Requests / seconds:F0} requests/s)"));
        Console.Out.WriteLine(string.Create(inv, $"keys     {totals.Keys}  ({totals.Keys / seconds / 1e6:F3} M keys/s)  missing {totals.Missing}  failed 0"));
        Console.Out.WriteLine(string.Create(inv, $"latency  p50 {p[0]} us  p90 {p[1]} us  p99 {p[2]} us  p99.9 {p[3]} us  max {p[4]} us"));
        return 0;

        void Loop(TimeSpan length, Totals t)
        {
            var end = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
            long now;
            while ((now = Stopwatch.GetTimestamp()) < end)
            {
                Fill(keys, s, random);
                using (var lease = store.Acquire())
                {
                    lease.View!.Lookup(keys, results);
                }

                var missing = 0;
                foreach (var r in results)
                {
                    missing += r.Found ? 0 : 1;
                }

                t.Requests++;
                t.Keys += keys.Length;
                t.Missing += missing;
                t.Latency.Record(Stopwatch.GetElapsedTime(now).TotalMicroseconds);
            }
        }
    }
}
