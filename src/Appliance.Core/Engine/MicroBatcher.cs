using System.Threading.Channels;

namespace Appliance.Core.Engine;

/// <summary>
/// Merges the samples of requests that arrive together into one network run: a batch closes at
/// <see cref="MaxBatch"/> samples or <see cref="MaxWait"/> after its first request, whichever
/// comes first. One run of batch 256 costs far less than 256 runs of batch 1 (the per-run cost of
/// ONNX Runtime dominates small batches), so concurrent small requests gain throughput for at most
/// MaxWait of latency. Requests larger than MaxBatch run on their own.
/// </summary>
public sealed class MicroBatcher : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<string>, CancellationToken, Task<ScoreResult>> _score;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private long _runs;
    private long _samples;

    public MicroBatcher(Func<IReadOnlyList<string>, CancellationToken, Task<ScoreResult>> score, int maxBatch, TimeSpan maxWait)
    {
        _score = score;
        MaxBatch = maxBatch;
        MaxWait = maxWait;
        _loop = Task.Run(LoopAsync);
    }

    public int MaxBatch { get; }

    public TimeSpan MaxWait { get; }

    /// <summary>Mean samples per network run.</summary>
    public double MeanBatch => Interlocked.Read(ref _runs) == 0 ? 0 : Math.Round(Interlocked.Read(ref _samples) / (double)Interlocked.Read(ref _runs), 2);

    public Task<ScoreResult> ScoreAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        if (lines.Count >= MaxBatch || MaxWait <= TimeSpan.Zero)
        {
            Count(lines.Count);
            return _score(lines, cancellationToken);
        }

        var pending = new Pending(lines);
        return _queue.Writer.TryWrite(pending)
            ? pending.Result.Task.WaitAsync(cancellationToken)
            : Task.FromException<ScoreResult>(new ObjectDisposedException(nameof(MicroBatcher)));
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private void Count(int samples)
    {
        Interlocked.Increment(ref _runs);
        Interlocked.Add(ref _samples, samples);
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out var first))
            {
                continue;
            }

            var batch = new List<Pending> { first };
            var size = first.Lines.Count;
            using var window = new CancellationTokenSource(MaxWait);
            try
            {
                while (size < MaxBatch)
                {
                    if (!reader.TryRead(out var next))
                    {
                        if (!await reader.WaitToReadAsync(window.Token).ConfigureAwait(false))
                        {
                            break;
                        }

                        continue;
                    }

                    batch.Add(next);
                    size += next.Lines.Count;
                }
            }
            catch (OperationCanceledException)
            {
                // the wait is over: run what has been collected
            }

            _ = RunAsync(batch, size);
        }
    }

    private async Task RunAsync(List<Pending> batch, int size)
    {
        Count(size);
        var lines = new List<string>(size);
        foreach (var p in batch)
        {
            lines.AddRange(p.Lines);
        }

        try
        {
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
    }

    private sealed class Pending(IReadOnlyList<string> lines)
    {
        public IReadOnlyList<string> Lines { get; } = lines;

        public TaskCompletionSource<ScoreResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
