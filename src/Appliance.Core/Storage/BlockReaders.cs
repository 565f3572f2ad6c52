using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Appliance.Core.Native;

namespace Appliance.Core.Storage;

/// <summary>How a disk-tier shard puts a batch of reads in flight together.</summary>
internal enum ReadEngine
{
    /// <summary>io_uring: one system call submits the batch and waits for it.</summary>
    Uring,

    /// <summary>A pool of threads each doing blocking <c>pread</c>s: works where io_uring is
    /// disabled (a container's seccomp profile), at a thread wake-up per read.</summary>
    Pread,
}

/// <summary>
/// Reads a batch of blocks with every read in flight at once and waits for all: the one seam
/// between the disk tier and the kernel. Thread-safe: each caller borrows its own ring (or hands
/// its reads to the shared pread workers).
/// </summary>
internal abstract class BlockReaders : IDisposable
{
    /// <summary>Reads in flight per ring; a batch larger than this goes in rounds.</summary>
    public const uint RingEntries = 256;

    public abstract ReadEngine Engine { get; }

    /// <summary><paramref name="results"/>[i]: bytes read for <paramref name="requests"/>[i], or −errno.</summary>
    public abstract void ReadAll(ReadOnlySpan<BlockRead> requests, Span<int> results);

    public abstract void Dispose();

    /// <summary>The engine asked for; io_uring falls back to pread (with the reason in
    /// <paramref name="note"/>) where the kernel refuses it.</summary>
    public static BlockReaders Create(ReadEngine engine, int preadThreads, out string? note)
    {
        note = null;
        if (engine == ReadEngine.Uring)
        {
            var probe = IoUring.TryCreate(RingEntries, out var why);
            if (probe is not null)
            {
                return new UringReaders(probe);
            }

            note = $"io_uring unavailable ({why}); reading with {preadThreads} pread threads";
        }

        return new PreadReaders(preadThreads);
    }

    private sealed class UringReaders(IoUring first) : BlockReaders
    {
        private readonly ConcurrentBag<IoUring> _idle = [first];
        private readonly ConcurrentBag<IoUring> _all = [first];
        private bool _disposed;

        public override ReadEngine Engine => ReadEngine.Uring;

        public override void ReadAll(ReadOnlySpan<BlockRead> requests, Span<int> results)
        {
            if (!_idle.TryTake(out var ring))
            {
                // One ring per thread reading at once: bounded by the threads serving requests.
                ring = IoUring.TryCreate(RingEntries, out var why) ?? throw new IOException($"cannot create another io_uring: {why}");
                _all.Add(ring);
            }

            try
            {
                ring.ReadAll(requests, results);
            }
            finally
            {
                if (Volatile.Read(ref _disposed))
                {
                    ring.Dispose();
                }
                else
                {
                    _idle.Add(ring);
                }
            }
        }

        public override void Dispose()
        {
            Volatile.Write(ref _disposed, true);
            foreach (var ring in _idle)
            {
                ring.Dispose();
            }
        }
    }

    /// <summary>Blocking preads on worker threads: a batch is queued, the workers take its reads
    /// one at a time, the caller waits until the last is done.</summary>
    private sealed unsafe class PreadReaders : BlockReaders
    {
        private readonly BlockingCollection<(Batch Batch, int Index)> _queue = new(new ConcurrentQueue<(Batch, int)>());
        private readonly Thread[] _workers;

        public PreadReaders(int threads)
        {
            _workers = new Thread[Math.Max(1, threads)];
            for (var i = 0; i < _workers.Length; i++)
            {
                _workers[i] = new Thread(Work) { IsBackground = true, Name = $"cube-pread-{i}" };
                _workers[i].Start();
            }
        }

        public override ReadEngine Engine => ReadEngine.Pread;

        public override void ReadAll(ReadOnlySpan<BlockRead> requests, Span<int> results)
        {
            var batch = new Batch(requests.ToArray());
            for (var i = 0; i < requests.Length; i++)
            {
                _queue.Add((batch, i));
            }

            batch.Done.Wait();
            batch.Results.CopyTo(results);
        }

        public override void Dispose() => _queue.CompleteAdding();

        private void Work()
        {
            foreach (var (batch, i) in _queue.GetConsumingEnumerable())
            {
                var r = batch.Requests[i];
                var n = LibC.PRead(r.Fd, r.Buffer, (nuint)r.Length, r.Offset);
                batch.Results[i] = n < 0 ? -Marshal.GetLastPInvokeError() : (int)n;
                if (Interlocked.Decrement(ref batch.Left) == 0)
                {
                    batch.Done.Set();
                }
            }
        }

#pragma warning disable CA1001 // Done is never disposed, on purpose (below)
        private sealed class Batch(BlockRead[] requests)
        {
            public readonly BlockRead[] Requests = requests;
            public readonly int[] Results = new int[requests.Length];
            // Never disposed: a worker may still be inside Set when the waiter wakes; without a
            // kernel handle (none is made for a wait this short) there is nothing to release.
            public readonly ManualResetEventSlim Done = new(requests.Length == 0);

            public int Left = requests.Length;
        }
#pragma warning restore CA1001
    }
}
