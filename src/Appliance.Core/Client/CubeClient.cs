using System.Diagnostics;
using Appliance.Core.Diagnostics;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Client;

/// <summary>
/// The cluster client (DESIGN §6): splits a batch by shard (<see cref="ShardRouting"/>; only shards that got
/// keys are asked), sends the per-shard requests in parallel over pooled pipelined connections,
/// and merges the answers back into request order. Keys of a shard that could not answer are
/// <see cref="KeyStatus.Failed"/>, never empty values.
/// </summary>
internal sealed class CubeClient : IAsyncDisposable
{
    private readonly Dictionary<string, (DictConf Conf, ShardChannel[] Shards, LatencyHistogram Latency)> _dicts = new(StringComparer.Ordinal);

    public CubeClient(IReadOnlyList<DictConf> dicts, int connectionsPerReplica = 2)
    {
        foreach (var conf in dicts)
        {
            _dicts[conf.DictName] = (conf, Enumerable.Range(0, conf.Shards).Select(s => new ShardChannel(s, conf, connectionsPerReplica)).ToArray(), new LatencyHistogram());
        }
    }

    public DictConf Conf(string dict) => Lookup(dict).Conf;

    public async Task<LookupResult> LookupAsync(string dict, ReadOnlyMemory<ulong> keys, CancellationToken cancellationToken = default)
    {
        var entry = Lookup(dict);
        var started = Stopwatch.GetTimestamp();
        var result = await LookupShardsAsync(entry.Conf, entry.Shards, keys, cancellationToken).ConfigureAwait(false);
        entry.Latency.Observe(Stopwatch.GetElapsedTime(started));
        return result;
    }

    /// <summary>The client's side of the lookups, for a role that uses it (engine, proxy):
    /// <c>cube_client_lookup_duration_seconds{dict}</c> (all shards, retries and backup requests
    /// included), and per shard the failures, retries and backup requests.</summary>
    public void WriteMetrics(MetricsWriter metrics)
    {
        foreach (var (dict, (_, channels, latency)) in _dicts)
        {
            var labels = $"dict=\"{MetricsWriter.Escape(dict)}\"";
            metrics.Histogram("cube_client_lookup_duration_seconds", "Lookup latency through the cluster client in seconds (every shard asked, retries and backup requests included).", latency, labels);
            foreach (var channel in channels)
            {
                var shard = $"{labels},shard=\"{channel.Shard.ToString(System.Globalization.CultureInfo.InvariantCulture)}\"";
                metrics.Counter("cube_client_shard_failures_total", "Shard lookups that failed after every replica, retry and the deadline (its keys answered as failed).", channel.Failures, shard);
                metrics.Counter("cube_client_retries_total", "Requests sent again to another replica after a failure.", channel.Retries, shard);
                metrics.Counter("cube_client_backup_requests_total", "Backup requests sent to another replica after backup_request ms without a reply.", channel.BackupRequests, shard);
            }
        }
    }

    private static async Task<LookupResult> LookupShardsAsync(DictConf conf, ShardChannel[] channels, ReadOnlyMemory<ulong> keys, CancellationToken cancellationToken)
    {
        if (conf.Shards == 1)
        {
            // One shard: no split, no copy of the keys.
            var single = await channels[0].LookupAsync(keys, cancellationToken).ConfigureAwait(false);
            return Merge(keys.Length, [Identity(keys.Length)], [single]);
        }

        // Split: positions[s] are the indexes of the keys routed to shard s, in request order.
        var (shardKeys, positions) = ShardRouting.Split(keys.Span, conf.Shards);
        var tasks = new Task<ShardAnswer>?[conf.Shards];
        for (var s = 0; s < conf.Shards; s++)
        {
            if (shardKeys[s].Length > 0)
            {
                tasks[s] = channels[s].LookupAsync(shardKeys[s], cancellationToken);
            }
        }

        var answers = new ShardAnswer?[conf.Shards];
        for (var s = 0; s < conf.Shards; s++)
        {
            if (tasks[s] is { } task)
            {
                answers[s] = await task.ConfigureAwait(false);
            }
        }

        return Merge(keys.Length, positions, answers);
    }

    /// <summary>Asks every shard of <paramref name="dict"/> which version it serves (a lookup of no
    /// keys): the label per shard, empty for a shard that serves nothing yet, null for one that did
    /// not answer.</summary>
    public async Task<string?[]> ProbeVersionsAsync(string dict, CancellationToken cancellationToken = default)
    {
        var (_, channels, _) = Lookup(dict);
        var answers = await Task.WhenAll(channels.Select(c => c.LookupAsync(ReadOnlyMemory<ulong>.Empty, cancellationToken))).ConfigureAwait(false);
        var versions = new string?[answers.Length];
        for (var s = 0; s < answers.Length; s++)
        {
            using var answer = answers[s];
            if (answer.Succeeded && !answer.Reply!.Header.IsError)
            {
                var (label, _) = LookupCodec.ReadResponse(answer.Reply.Payload, []);
                versions[s] = label;
            }
        }

        return versions;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, channels, _) in _dicts.Values)
        {
            foreach (var channel in channels)
            {
                await channel.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    [ThreadStatic]
    private static int[]? t_identity;

    /// <summary>0, 1, …, count − 1 (positions of a single shard's keys), cached per thread.</summary>
    private static int[] Identity(int count)
    {
        var identity = t_identity;
        if (identity is null || identity.Length != count)
        {
            identity = new int[count];
            for (var i = 0; i < count; i++)
            {
                identity[i] = i;
            }

            t_identity = identity;
        }

        return identity;
    }

    private (DictConf Conf, ShardChannel[] Shards, LatencyHistogram Latency) Lookup(string dict) =>
        _dicts.TryGetValue(dict, out var entry) ? entry : throw new ArgumentException($"dict '{dict}' is not in the client configuration (has: {string.Join(", ", _dicts.Keys)})", nameof(dict));

    private static LookupResult Merge(int count, int[][] positions, ShardAnswer?[] answers)
    {
        var status = new KeyStatus[count];
        var values = new (int, int, int)[count];
        var versions = new string?[answers.Length];
        var codec = Storage.ValueCodec.Raw;
        for (var s = 0; s < answers.Length; s++)
        {
            var answer = answers[s];
            if (answer is null)
            {
                continue;
            }

            var shardPositions = positions[s];
            if (answer.Succeeded)
            {
                var rented = System.Buffers.ArrayPool<(int Offset, int Length)>.Shared.Rent(shardPositions.Length);
                var slices = rented.AsSpan(0, shardPositions.Length);
                try
                {
                    (versions[s], codec) = LookupCodec.ReadResponse(answer.Reply!.Payload, slices);
                }
                catch (ProtocolException e)
                {
                    answer.Dispose();
                    answers[s] = answer = ShardAnswer.Failure($"shard {s}: malformed reply from {answer.Replica}: {e.Message}", answer.Replica);
                }

                var succeeded = answer.Succeeded;
                if (succeeded)
                {
                    for (var j = 0; j < shardPositions.Length; j++)
                    {
                        var p = shardPositions[j];
                        status[p] = slices[j].Length < 0 ? KeyStatus.Missing : KeyStatus.Found;
                        values[p] = (s, slices[j].Offset, Math.Max(0, slices[j].Length));
                    }
                }

                System.Buffers.ArrayPool<(int Offset, int Length)>.Shared.Return(rented);
                if (succeeded)
                {
                    continue;
                }
            }

            foreach (var p in shardPositions)
            {
                status[p] = KeyStatus.Failed;
            }
        }

        return new LookupResult(status, values, answers, versions, codec);
    }
}
