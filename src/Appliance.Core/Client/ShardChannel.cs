using System.Diagnostics;

namespace Appliance.Core.Client;

/// <summary>
/// The replicas of one shard and the policy for asking them: pick a replica with the load
/// balancer; after <see cref="DictConf.BackupRequestMs"/> without a reply send the same request to
/// another replica (first reply wins); on a failure try another replica up to
/// <see cref="DictConf.Retry"/> times; give up at <see cref="DictConf.TimeoutMs"/>.
/// </summary>
internal sealed class ShardChannel : IAsyncDisposable
{
    private readonly ReplicaPool[] _replicas;
    private readonly DictConf _conf;
    private int _next;
    private long _failures;
    private long _retries;
    private long _backups;

    public ShardChannel(int shard, DictConf conf, int connectionsPerReplica)
    {
        Shard = shard;
        _conf = conf;
        var connectTimeout = TimeSpan.FromMilliseconds(Math.Max(conf.TimeoutMs, 100));
        _replicas = conf.Replicas[shard].Select(a => new ReplicaPool(a, connectionsPerReplica, connectTimeout)).ToArray();
    }

    public int Shard { get; }

    public IReadOnlyList<ReplicaPool> Replicas => _replicas;

    /// <summary>Lookups this shard could not answer (every replica, retry and the deadline spent).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Requests sent again to another replica after a failure.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Backup requests sent after <see cref="DictConf.BackupRequestMs"/> without a reply.</summary>
    public long BackupRequests => Interlocked.Read(ref _backups);

    public async Task<ShardAnswer> LookupAsync(ReadOnlyMemory<ulong> keys, CancellationToken cancellationToken)
    {
        // Fast path, the common case: one request, answered before the backup delay (or the
        // timeout). It costs one timer instead of the general path's bookkeeping.
        var first = Send(PickFirst(), keys, CancellationToken.None);
        var patience = TimeSpan.FromMilliseconds(_conf.BackupRequestMs > 0 && _replicas.Length > 1 ? _conf.BackupRequestMs : _conf.TimeoutMs);
        try
        {
            var reply = await first.Task.WaitAsync(patience, cancellationToken).ConfigureAwait(false);
            if (!reply.Header.IsError)
            {
                return ShardAnswer.Success(reply, _replicas[first.Replica].Address.ToString());
            }

            // An error reply: the general path reads it, decides on a retry and disposes it.
        }
        catch (Exception e) when (e is TimeoutException or ConnectionFailedException or OperationCanceledException)
        {
            // fall through to the general path, which takes over the first attempt
        }

        return await LookupSlowAsync(keys, [first.Replica], first, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Backup requests, retries and the deadline, continuing from a first attempt that
    /// did not succeed in time (it may still be in flight, failed, or an error reply).</summary>
    private async Task<ShardAnswer> LookupSlowAsync(ReadOnlyMemory<ulong> keys, HashSet<int> tried, (Task<Reply> Task, int Replica) first, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var elapsed = first.Task.IsCompleted ? 0 : (_conf.BackupRequestMs > 0 && _replicas.Length > 1 ? _conf.BackupRequestMs : _conf.TimeoutMs);
        deadline.CancelAfter(Math.Max(1, _conf.TimeoutMs - elapsed));
        var attempts = new List<(Task<Reply> Task, int Replica)> { first };
        var retriesLeft = _conf.Retry;
        var lastError = "no replica tried";
        var lastReplica = string.Empty;

        // The fast path already waited out the backup delay: send the backup request now.
        Task? backup = !first.Task.IsCompleted && _conf.BackupRequestMs > 0 && _replicas.Length > 1 ? Task.CompletedTask : null;
        var timeout = Task.Delay(Timeout.Infinite, deadline.Token);
        try
        {
            while (true)
            {
                var waitOn = new List<Task>(attempts.Count + 2) { timeout };
                waitOn.AddRange(attempts.Select(a => (Task)a.Task));
                if (backup is not null)
                {
                    waitOn.Add(backup);
                }

                var done = await Task.WhenAny(waitOn).ConfigureAwait(false);
                if (done == timeout)
                {
                    var why = cancellationToken.IsCancellationRequested ? "cancelled" : $"no reply within {_conf.TimeoutMs} ms";
                    return Failed($"shard {Shard}: {why} (last error: {lastError})", lastReplica);
                }

                if (done == backup)
                {
                    backup = null;
                    if (tried.Count < _replicas.Length)
                    {
                        Interlocked.Increment(ref _backups);
                        attempts.Add(Send(Pick(tried), keys, deadline.Token));
                    }

                    continue;
                }

                var index = attempts.FindIndex(a => a.Task == done);
                var attempt = attempts[index];
                attempts.RemoveAt(index);
                lastReplica = _replicas[attempt.Replica].Address.ToString();
                try
                {
                    var reply = await attempt.Task.ConfigureAwait(false);
                    if (reply.Header.IsError)
                    {
                        var error = Protocol.ErrorPayload.Read(reply.Payload);
                        reply.Dispose();
                        var exception = new ServerErrorException(lastReplica, error.Code, error.Message);
                        if (!exception.IsRetryable)
                        {
                            return Failed($"shard {Shard}: {exception.Message}", lastReplica);
                        }

                        throw exception;
                    }

                    return ShardAnswer.Success(reply, lastReplica);
                }
                catch (Exception e) when (e is ConnectionFailedException or ServerErrorException or OperationCanceledException or TimeoutException)
                {
                    lastError = e.Message;
                }

                if (retriesLeft > 0 && tried.Count < _replicas.Length)
                {
                    retriesLeft--;
                    Interlocked.Increment(ref _retries);
                    attempts.Add(Send(Pick(tried), keys, deadline.Token));
                }
                else if (retriesLeft > 0 && attempts.Count == 0)
                {
                    // Every replica was tried once; go round again while time and retries remain.
                    retriesLeft--;
                    Interlocked.Increment(ref _retries);
                    tried.Clear();
                    attempts.Add(Send(Pick(tried), keys, deadline.Token));
                }
                else if (attempts.Count == 0)
                {
                    return Failed($"shard {Shard}: {lastError} (after {stopwatch.ElapsedMilliseconds} ms)", lastReplica);
                }
            }
        }
        finally
        {
            await deadline.CancelAsync().ConfigureAwait(false);
            foreach (var (task, _) in attempts)
            {
                _ = task.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }
    }

    private ShardAnswer Failed(string error, string replica)
    {
        Interlocked.Increment(ref _failures);
        return ShardAnswer.Failure(error, replica);
    }

    private (Task<Reply> Task, int Replica) Send(int replica, ReadOnlyMemory<ulong> keys, CancellationToken token)
    {
        var dict = _conf.DictName;
        return (SendTo(_replicas[replica], dict, keys, token), replica);
    }

    private static async Task<Reply> SendTo(ReplicaPool replica, string dict, ReadOnlyMemory<ulong> keys, CancellationToken token)
    {
        var connection = await replica.GetAsync().WaitAsync(token).ConfigureAwait(false);
        return await connection.LookupAsync(dict, keys, token).ConfigureAwait(false);
    }

    /// <summary>The first replica for a request, by the load balancer, skipping replicas marked
    /// down when another is up. Allocation-free: it runs once per shard request.</summary>
    private int PickFirst()
    {
        var n = _replicas.Length;
        if (n == 1)
        {
            return 0;
        }

        if (_conf.LoadBalancer == "la")
        {
            var best = -1;
            for (var i = 0; i < n; i++)
            {
                if (!_replicas[i].IsDown && (best < 0 || _replicas[i].InFlight < _replicas[best].InFlight))
                {
                    best = i;
                }
            }

            return best < 0 ? 0 : best;
        }

        var start = _conf.LoadBalancer == "random" ? Random.Shared.Next(n) : (int)((uint)Interlocked.Increment(ref _next) % (uint)n);
        for (var i = 0; i < n; i++)
        {
            var candidate = (start + i) % n;
            if (!_replicas[candidate].IsDown)
            {
                return candidate;
            }
        }

        return start;
    }

    /// <summary>The next replica by the load balancer, preferring replicas not yet tried for this
    /// request and not marked down.</summary>
    private int Pick(HashSet<int> tried)
    {
        var n = _replicas.Length;
        var candidates = Enumerable.Range(0, n).Where(i => !tried.Contains(i)).ToList();
        var up = candidates.Where(i => !_replicas[i].IsDown).ToList();
        var pool = up.Count > 0 ? up : candidates.Count > 0 ? candidates : Enumerable.Range(0, n).ToList();
        int chosen;
        switch (_conf.LoadBalancer)
        {
            case "random":
                chosen = pool[Random.Shared.Next(pool.Count)];
                break;
            case "la":
                chosen = pool.MinBy(i => _replicas[i].InFlight);
                break;
            default:
                var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)n);
                chosen = pool.MinBy(i => (i - start + n) % n);
                break;
        }

        tried.Add(chosen);
        return chosen;
    }
}
