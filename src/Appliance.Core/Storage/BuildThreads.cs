using System.Runtime.ExceptionServices;

namespace Appliance.Core.Storage;

/// <summary>
/// Runs a build's few, long work items (input files, shards) on dedicated threads, each taking the
/// next item until none are left. Parallel.For is not used for these: it promises no parallelism,
/// and with two shards it ran both writes one after the other on the calling thread while the
/// pool's second worker never got one (a 100M-key build wrote its two shards on one core, 23 s;
/// seen in /proc/PID/task). A failed item stops the others from taking new items; the failure of
/// the lowest-numbered item is rethrown, so the error reported does not depend on scheduling.
/// </summary>
internal static class BuildThreads
{
    public static void For(int count, int threads, Action<int> body)
    {
        var workers = Math.Clamp(threads, 1, Math.Max(1, count));
        var errors = new Exception?[count];
        var next = -1;
        var failed = 0;
        void Work()
        {
            int item;
            while (Volatile.Read(ref failed) == 0 && (item = Interlocked.Increment(ref next)) < count)
            {
                try
                {
                    body(item);
                }
                catch (Exception e)
                {
                    errors[item] = e;
                    Volatile.Write(ref failed, 1);
                }
            }
        }

        var started = new Thread[workers - 1];
        for (var i = 0; i < started.Length; i++)
        {
            started[i] = new Thread(Work) { IsBackground = true, Name = $"build-{i + 1}" };
            started[i].Start();
        }

        Work(); // the calling thread is one of the workers
        foreach (var thread in started)
        {
            thread.Join();
        }

        var first = errors.FirstOrDefault(e => e is not null);
        if (first is not null)
        {
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }
}
