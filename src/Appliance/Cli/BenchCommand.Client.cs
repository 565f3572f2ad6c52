using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.Cli;

/// <summary><c>cube bench lookup</c> through the real client: the closed and open loops, the
/// schedule both generators share, and the key streams.</summary>
internal static partial class BenchCommand
{
    private static Task Drive(CubeClient? client, Settings s, Totals totals, TimeSpan duration) =>
        client is null ? RawDrive(s, totals, duration)
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

    private static ulong[] LoadKeys(string path) =>
        File.ReadLines(path).Select(l => l.Split('\t', ':')[0].Trim()).Where(l => l.Length > 0)
            .Select(l => ulong.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : throw new UsageException($"{path}: '{l}' is not a key")).ToArray();
}
