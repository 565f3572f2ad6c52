using System.Diagnostics;
using Appliance.Core.Control.Agent;
using Appliance.Core.Diagnostics;
using Appliance.Core.Net;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// The transfer's I/O with the agents of every shard replica: stage a version on all of them,
/// activate it on all of them (and switch back if a shard cannot), retire it, bring a replica
/// that was down up to the live version. Each replica's progress is written to its
/// <see cref="InstanceRecord"/> through the state keeper; whether the version may go on is
/// <see cref="RolloutSteps"/>'s to say.
/// </summary>
internal sealed class ReplicaRollout(TransferOptions options, AgentClient agents, TransferStateKeeper keeper, ILogger logger)
{
    /// <summary>Asking an agent to stage: bounded by transfer.conf's max_attempts (and the stage timeout).</summary>
    private RetryPolicy StageRetry => new(options.MaxAttempts);

    /// <summary>Asking an agent to activate: a few quick tries (staging did the slow part).</summary>
    private static RetryPolicy ActivateRetry => new(3);

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Stages on every instance not staged yet; null when the version may be activated
    /// (<see cref="RolloutSteps.StageVerdict"/>), else why not.</summary>
    public async Task<string?> StageAllAsync(VersionRecord version, CancellationToken token)
    {
        var todo = version.Instances.Where(i => !i.StatusId.HasVersion()).ToList();
        await ForEachAsync(todo, instance => StageAsync(version, instance, token), token).ConfigureAwait(false);
        return keeper.Read(_ => RolloutSteps.StageVerdict(version, options));
    }

    /// <summary>Activates on every staged instance; null when every shard serves the version.
    /// If a shard ends with no replica on it, the instances already switched go back to the
    /// previous version, so clients never keep a mix.</summary>
    public async Task<string?> ActivateAllAsync(VersionRecord version, CancellationToken token)
    {
        var staged = version.Instances.Where(i => i.StatusId.HasVersion()).ToList();
        await ForEachAsync(staged, instance => ActivateAsync(version, instance, token), token).ConfigureAwait(false);
        keeper.Save();
        var missing = keeper.Read(_ => RolloutSteps.ShardsNotActive(version, options.ShardNum));
        if (missing.Count == 0)
        {
            return null;
        }

        var previous = keeper.Read(RolloutPlan.Live);
        foreach (var (switched, back) in keeper.Read(_ => RolloutSteps.ToSwitchBack(version, previous)))
        {
            await ActivateAsync(previous!, back, token).ConfigureAwait(false);
            keeper.Change(_ => switched.Set(InstanceStatus.Staged, "rolled back: another shard could not activate"));
        }

        return keeper.Read(_ =>
        {
            RolloutSteps.Unconfirmed(version, previous);
            return RolloutSteps.ActivationProblem(version, missing, previous);
        });
    }

    /// <summary>Asks every agent to delete its copy of a version (best effort: an agent that is
    /// down keeps it and is retired when it catches up; an agent serving it refuses).</summary>
    public Task RetireEverywhereAsync(VersionRecord version, CancellationToken token) =>
        Task.WhenAll(options.Agents.SelectMany(r => r).Select(async agent =>
        {
            try
            {
                await agents.RetireAsync(agent, version, token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsAgentFailure(e))
            {
                // best effort
            }
        }));

    /// <summary>Replicas that were skipped, or restarted behind, get the live lineage staged in
    /// order (<see cref="RolloutPlan.CatchUpLineage"/>) and the live version activated, once
    /// their agent answers again.</summary>
    public async Task CatchUpAsync(CancellationToken token)
    {
        var (current, lineage) = keeper.Read(s => RolloutPlan.Live(s) is { } live ? (live, RolloutPlan.CatchUpLineage(s.History, live)) : (null, []));
        if (current is null)
        {
            return;
        }

        foreach (var instance in current.Instances.Where(i => i.StatusId != InstanceStatus.Active).ToList())
        {
            try
            {
                var status = await agents.StatusAsync(new NodeAddress(instance.AgentIp, instance.AgentPort), token).ConfigureAwait(false);
                if (status.LiveVersion != (current.IsBase ? current.Depend : current.Label))
                {
                    foreach (var step in lineage)
                    {
                        var stepInstance = step.Instances.First(i => i.Shard == instance.Shard && i.Replica == instance.Replica);
                        if (!stepInstance.StatusId.HasVersion() || step == current)
                        {
                            await StageAsync(step, stepInstance, token).ConfigureAwait(false);
                        }
                    }

                    await ActivateAsync(current, instance, token).ConfigureAwait(false);
                }
                else
                {
                    keeper.Change(_ => instance.Set(InstanceStatus.Active));
                }

                if (instance.StatusId == InstanceStatus.Active)
                {
                    ControlLog.Transfer(logger, $"shard {instance.Shard} replica {instance.Replica} caught up to {current.Label}");
                }

                keeper.Save();
            }
            catch (Exception e) when (IsAgentFailure(e))
            {
                // still down: try again next poll
            }
        }
    }

    /// <summary>"0/0 staged, 0/1 downloading, 1/0 stage_failed (connection refused) attempt 2":
    /// each replica's state, for the periodic progress line of a rollout.</summary>
    public string DescribeReplicas(VersionRecord version) => keeper.Read(_ => string.Join(", ", version.Instances.Select(i =>
        $"{i.Shard}/{i.Replica} {i.Status}{(i.Error is null ? string.Empty : $" ({i.Error})")}{(i.Attempts > 1 ? $" attempt {i.Attempts}" : string.Empty)}")));

    /// <summary>Asks one agent to stage the version and waits until it has, with bounded retries
    /// and backoff; the agent resumes an interrupted download on the next try. A replica that
    /// never stages is skipped under down_policy skip.</summary>
    private async Task StageAsync(VersionRecord version, InstanceRecord instance, CancellationToken token)
    {
        var agent = new NodeAddress(instance.AgentIp, instance.AgentPort);
        var deadline = Stopwatch.GetTimestamp() + (long)(options.StageTimeoutSeconds * (double)Stopwatch.Frequency);
        keeper.Change(_ => instance.DownloadStartTime = Now);
        var retry = StageRetry;
        for (var attempt = 1; attempt <= retry.MaxAttempts && Stopwatch.GetTimestamp() < deadline; attempt++)
        {
            keeper.Change(_ => instance.Attempts++);
            try
            {
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    var reply = await agents.StageAsync(agent, version, token).ConfigureAwait(false);
                    if (reply.State == AgentState.Staged)
                    {
                        keeper.Commit(_ =>
                        {
                            instance.Set(InstanceStatus.Staged);
                            instance.DownloadedTime = Now;
                        });
                        return;
                    }

                    if (!reply.Ok)
                    {
                        keeper.Change(_ => instance.Set(InstanceStatus.StageFailed, reply.Error));
                        break;
                    }

                    await Task.Delay(200, token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (IsAgentFailure(e) && !token.IsCancellationRequested)
            {
                keeper.Change(_ => instance.Set(InstanceStatus.StageFailed, $"agent {agent}: {e.Message}"));
            }

            keeper.Save();
            if (attempt < retry.MaxAttempts)
            {
                await Task.Delay(retry.DelayAfter(attempt), token).ConfigureAwait(false);
            }
        }

        if (options.DownPolicy == "skip")
        {
            keeper.Commit(_ => instance.Set(InstanceStatus.Skipped, instance.Error));
        }
    }

    private async Task ActivateAsync(VersionRecord version, InstanceRecord instance, CancellationToken token)
    {
        var agent = new NodeAddress(instance.AgentIp, instance.AgentPort);
        var retry = ActivateRetry;
        for (var attempt = 1; attempt <= retry.MaxAttempts; attempt++)
        {
            try
            {
                var retainFrom = keeper.Read(s => RolloutPlan.RetainFrom(s.History, version, options.RetainVersions));
                var reply = await agents.ActivateAsync(agent, version, retainFrom, token).ConfigureAwait(false);
                if (reply.Ok)
                {
                    keeper.Change(_ =>
                    {
                        instance.Set(InstanceStatus.Active);
                        instance.EnabledTime = Now;
                    });
                    return;
                }

                keeper.Change(_ => instance.Set(InstanceStatus.ActivateFailed, reply.Error));
            }
            catch (Exception e) when (IsAgentFailure(e) && !token.IsCancellationRequested)
            {
                keeper.Change(_ => instance.Set(InstanceStatus.ActivateFailed, $"agent {agent}: {e.Message}"));
            }

            if (attempt < retry.MaxAttempts)
            {
                await Task.Delay(retry.DelayAfter(attempt), token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs <paramref name="step"/> for every instance, at most transfer.conf's
    /// parallelism at once (the fan-out of staging and of activation).</summary>
    private Task ForEachAsync(List<InstanceRecord> instances, Func<InstanceRecord, Task> step, CancellationToken token) =>
        Parallel.ForEachAsync(instances, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = token }, async (instance, _) => await step(instance).ConfigureAwait(false));

    /// <summary>What one agent can cause: refused or dropped connections, time-outs, nonsense replies.</summary>
    private static bool IsAgentFailure(Exception e) => e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException;
}
