using System.Diagnostics;
using System.Threading.Channels;

namespace Appliance.Core.Engine;

/// <summary>
/// Merges the samples of requests that arrive while the network is busy into one run. At most
/// <see cref="Concurrency"/> runs execute at once (one per core); requests arriving meanwhile queue,
/// and the next free runner takes everything queued, up to <see cref="MaxBatch"/> samples. An idle
/// engine therefore adds no waiting at all, and a busy one trades many small runs — whose fixed
/// cost dominates in ONNX Runtime — for a few large ones. Requests of MaxBatch or more run alone.
/// <para>With a spin budget (<c>--batch-spin-us</c>), the loop that hands queued requests to the
/// runners polls an empty queue for up to that long before it parks, but only while requests come
/// that close together (the last gap between two was within the budget): a request that arrives
/// meanwhile is taken without the wake-up of a parked loop. The poll yields the core
/// (<see cref="Thread.Yield"/>) to any other thread that can run, so on a busy core it costs
/// little; on an idle one it burns the budget. Hits and misses are counted.</para>
/// </summary>
internal sealed class MicroBatcher : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<EngineSample>, CancellationToken, Task<ScoreResult>> _score;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _runners;
    private readonly Task _loop;
    private readonly long _spinTicks;
    private long _runs;
    private long _samples;
    private long _lastArrival;        // Stopwatch timestamp of the last request queued (spin only)
    private long _lastGap = long.MaxValue; // ticks between the last two
    private long _spinHits;
    private long _spinMisses;

    /// <param name="spinMicros">How long the loop polls an empty queue before it parks, while
    /// requests come at most that far apart; 0: it parks at once.</param>
    public MicroBatcher(Func<IReadOnlyList<EngineSample>, CancellationToken, Task<ScoreResult>> score, int maxBatch, int concurrency, int spinMicros = 0)
    {
        _score = score;
        MaxBatch = maxBatch;
        _spinTicks = spinMicros * Stopwatch.Frequency / 1_000_000;
        Concurrency = Math.Max(1, concurrency);
        _runners = new SemaphoreSlim(Concurrency);
        _loop = Task.Run(LoopAsync);
    }

    public int MaxBatch { get; }

    public int Concurrency { get; }

    /// <summary>Polls of an empty queue that a request ended (no wake-up needed).</summary>
    public long SpinHits => Interlocked.Read(ref _spinHits);

    /// <summary>Polls that spent the whole budget; the loop parked after them.</summary>
    public long SpinMisses => Interlocked.Read(ref _spinMisses);

    /// <summary>Mean samples per network run.</summary>
    public double MeanBatch => Interlocked.Read(ref _runs) == 0 ? 0 : Math.Round(Interlocked.Read(ref _samples) / (double)Interlocked.Read(ref _runs), 2);

    public Task<ScoreResult> ScoreAsync(IReadOnlyList<EngineSample> lines, CancellationToken cancellationToken)
    {
        if (lines.Count >= MaxBatch)
        {
            Count(lines.Count);
            return _score(lines, cancellationToken);
        }

        var pending = new Pending(lines);
        if (_spinTicks > 0)
        {
            var now = Stopwatch.GetTimestamp();
            Volatile.Write(ref _lastGap, now - Interlocked.Exchange(ref _lastArrival, now));
        }

        return _queue.Writer.TryWrite(pending)
            ? pending.Result.Task.WaitAsync(cancellationToken)
            : Task.FromException<ScoreResult>(new ObjectDisposedException(nameof(MicroBatcher)));
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        for (var i = 0; i < Concurrency; i++)
        {
            await _runners.WaitAsync().ConfigureAwait(false); // let runs in progress finish
        }

        _runners.Dispose();
    }

    private void Count(int samples)
    {
        Interlocked.Increment(ref _runs);
        Interlocked.Add(ref _samples, samples);
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        while (Spin(reader) || await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            await _runners.WaitAsync().ConfigureAwait(false);
            var batch = new List<Pending>();
            var size = 0;
            while (size < MaxBatch && reader.TryRead(out var next))
            {
                batch.Add(next);
                size += next.Lines.Count;
            }

            if (batch.Count == 0)
            {
                _runners.Release();
                continue;
            }

            _ = RunAsync(batch, size);
        }
    }

    /// <summary>True when a request is queued now or arrives within the spin budget; false when
    /// the loop should park (no budget, requests too far apart, or none came).</summary>
    private bool Spin(ChannelReader<Pending> reader)
    {
        if (reader.TryPeek(out _))
        {
            return true;
        }

        if (_spinTicks == 0 || Volatile.Read(ref _lastGap) > _spinTicks)
        {
            return false;
        }

        var until = Stopwatch.GetTimestamp() + _spinTicks;
        while (Stopwatch.GetTimestamp() < until)
        {
            if (reader.TryPeek(out _))
            {
                Interlocked.Increment(ref _spinHits);
                return true;
            }

            Thread.Yield();
        }

        Interlocked.Increment(ref _spinMisses);
        return false;
    }

    private async Task RunAsync(List<Pending> batch, int size)
    {
        try
        {
            Count(size);
            var lines = new List<EngineSample>(size);
            foreach (var p in batch)
            {
                lines.AddRange(p.Lines);
            }

            var result = await _score(lines, CancellationToken.None).ConfigureAwait(false);
            var at = 0;
            foreach (var p in batch)
            {
                var n = p.Lines.Count;
                p.Result.TrySetResult(result with { Scores = result.Scores[at..(at + n)], Errors = result.Errors[at..(at + n)] });
                at += n;
            }
        }
        catch (Exception e)
        {
            foreach (var p in batch)
            {
                p.Result.TrySetException(e);
            }
        }
        finally
        {
            _runners.Release();
        }
    }

    private sealed class Pending(IReadOnlyList<EngineSample> lines)
    {
        public IReadOnlyList<EngineSample> Lines { get; } = lines;

        public TaskCompletionSource<ScoreResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
