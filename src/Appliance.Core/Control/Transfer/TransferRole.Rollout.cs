using System.Diagnostics;
using Appliance.Core.Client;
using Appliance.Core.Control.Agent;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>The rollout of one version: build → stage everywhere → activate everywhere → retire.</summary>
public sealed partial class TransferRole
{
    private async Task DeployAsync(VersionRecord version, CancellationToken stopping)
    {
        // Building and staging stop early for an operator's abandon; activation never does.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Change(() => _deploying = (version, abandon));
        var token = abandon.Token;
        var build = new BuildProgress();
        using var progress = ProgressMeter.ForLog(() => DescribeRollout(version, build), line => ControlLog.Transfer(_logger, line), TimeSpan.FromSeconds(_options.ProgressSeconds));
        try
        {
            if (!version.Built)
            {
                Commit(() => version.Set(VersionStatus.Building));
                await BuildAsync(version, build, token).ConfigureAwait(false);
            }

            Commit(() => version.Set(VersionStatus.Staging));
            var staging = Stopwatch.GetTimestamp();
            var problem = await StageAllAsync(version, token).ConfigureAwait(false);
            Change(() => version.StageSeconds += Since(staging));
            _stagePhase.Observe(Stopwatch.GetElapsedTime(staging));
            if (problem is not null)
            {
                Failed(version, problem);
                return;
            }

            lock (State)
            {
                token.ThrowIfCancellationRequested();
                if (State.Pinned is not null)
                {
                    // Pinned while it staged: it waits, staged, for the unpin.
                    version.Set(VersionStatus.Staged);
                    SaveLocked();
                    ControlLog.Transfer(_logger, $"{version.Label} is staged and waits: the dict is pinned at {State.Pinned}");
                    return;
                }

                version.Set(VersionStatus.Enabling);
                SaveLocked();
            }

            token = stopping;
            var activating = Stopwatch.GetTimestamp();
            problem = await ActivateAllAsync(version, token).ConfigureAwait(false);
            Change(() => version.ActivateSeconds += Since(activating));
            _activatePhase.Observe(Stopwatch.GetElapsedTime(activating));
            if (problem is not null)
            {
                Failed(version, problem);
                return;
            }

            lock (State)
            {
                foreach (var old in State.History.Where(v => v.Status == VersionStatus.Finished))
                {
                    old.Set(VersionStatus.Superseded);
                }

                version.Set(VersionStatus.Finished);
                version.FinishTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                // The steps' own clocks: unix seconds would round a quarter-second rollout to 0.
                version.TotalSeconds = Math.Round(version.BuildSeconds + version.StageSeconds + version.ActivateSeconds, 3);
                State.Current = version.Label;
                SaveLocked();
            }

            // A version went live everywhere: the error of an earlier attempt (of this version or
            // a poll before it) is history now (it stays in the version's record), not the state.
            _lastError = null;
            _rollouts.Observe(version.TotalSeconds);
            ControlLog.Transfer(_logger, $"{version.Label} is active on every shard (build {version.BuildSeconds:F1} s, stage {version.StageSeconds:F1} s, activate {version.ActivateSeconds:F1} s)");
            if (version.IsBase)
            {
                await RetireLineagesAsync(version, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            // An operator abandons it: the queued command records that next.
            ControlLog.Transfer(_logger, $"rollout of {version.Label} stopped at step '{version.StatusStr}' for an operator's abandon");
        }
        catch (Exception e) when (e is not OutOfMemoryException && !stopping.IsCancellationRequested)
        {
            // Any failure of this version (a bad input URL, a full disk, an agent answering
            // nonsense) fails this version only; the previous one keeps serving.
            Failed(version, e.Message);
        }
        finally
        {
            Change(() => _deploying = null);
        }
    }

    private void Failed(VersionRecord version, string problem)
    {
        lock (State)
        {
            version.Attempts++;
            version.Set(VersionStatus.Failed, problem);
            version.NextRetryTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + Math.Min(600, 30 * version.Attempts);
            SaveLocked();
        }

        _lastError = $"{version.Label}: {problem}";
        ControlLog.TransferWarning(_logger, $"{version.Label} failed, {State.Current ?? "nothing"} keeps serving: {problem}");
    }

    /// <summary>"rollout 100_101 building: build: 1.2 M records …" or "rollout 100_101 staging:
    /// 0/0 staged, 0/1 downloading, 1/0 error (connection refused), 1/1 staged": the periodic
    /// progress line of a rollout.</summary>
    private string DescribeRollout(VersionRecord version, BuildProgress build)
    {
        lock (State)
        {
            var head = $"rollout {version.Label} {version.StatusStr}";
            if (version.Status == VersionStatus.Building)
            {
                return $"{head}: {build.Describe()}";
            }

            var replicas = version.Instances.Select(i => $"{i.Shard}/{i.Replica} {i.Status}{(i.Error is null ? string.Empty : $" ({i.Error})")}{(i.Attempts > 1 ? $" attempt {i.Attempts}" : string.Empty)}");
            return $"{head}: {string.Join(", ", replicas)}";
        }
    }

    /// <summary>Builds unless a complete build of this version is already in the output (a restart
    /// after the build, or a version built ahead of time).</summary>
    private async Task BuildAsync(VersionRecord version, BuildProgress progress, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        if (PackageCatalog.TryReadInfo(Path.Combine(version.Output, VersionInfo.FileName)) is { } info && info.Dict == _options.DictName && info.ShardCount == _options.ShardNum)
        {
            ControlLog.Transfer(_logger, $"{version.Label} is already built in {version.Output}; not building again");
        }
        else
        {
            var input = await _donefiles.ResolveInputAsync(version, token).ConfigureAwait(false);
            ControlLog.Transfer(_logger, $"building {version.Label} from {input}");
            await Task.Run(() => TableBuilder.Build(new BuildOptions
            {
                InputPath = input,
                OutputPath = _options.OutputAddress,
                Dict = _options.DictName,
                Shards = _options.ShardNum,
                Mode = version.Mode,
                Version = version.Version,
                Base = version.IsBase ? null : version.Depend,
                Codec = _options.ValueCodec,
            }, progress: progress), token).ConfigureAwait(false);
        }

        Commit(() =>
        {
            version.Built = true;
            version.BuildSeconds = Since(started);
        });
        _buildPhase.Observe(Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Stages on every instance not staged yet. Null when the version may be activated:
    /// every replica staged (policy wait) or, with policy skip, every shard has at least one.</summary>
    private async Task<string?> StageAllAsync(VersionRecord version, CancellationToken token)
    {
        var todo = version.Instances.Where(i => !i.StatusId.HasVersion()).ToList();
        await ForEachInstanceAsync(todo, instance => StageInstanceAsync(version, instance, token), token).ConfigureAwait(false);

        var staged = version.Instances.Where(i => i.StatusId.HasVersion()).ToList();
        var missingShards = Enumerable.Range(0, _options.ShardNum).Where(s => !staged.Any(i => i.Shard == s)).ToList();
        if (missingShards.Count > 0)
        {
            var why = version.Instances.Where(i => missingShards.Contains(i.Shard)).Select(i => $"shard {i.Shard} replica {i.Replica}: {i.Error}");
            return $"shard(s) {string.Join(", ", missingShards)} could not stage it ({string.Join("; ", why)})";
        }

        if (_options.DownPolicy == "wait" && staged.Count < version.Instances.Count)
        {
            return $"{version.Instances.Count - staged.Count} replica(s) could not stage it and down_policy is wait";
        }

        return null;
    }

    /// <summary>Asks one agent to stage the version and waits until it has, with bounded retries
    /// and backoff; the agent resumes an interrupted download on the next try.</summary>
    private async Task StageInstanceAsync(VersionRecord version, InstanceRecord instance, CancellationToken token)
    {
        var agent = new NodeAddress(instance.AgentIp, instance.AgentPort);
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.StageTimeoutSeconds * (double)Stopwatch.Frequency);
        Change(() => instance.DownloadStartTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var retry = StageRetry;
        for (var attempt = 1; attempt <= retry.MaxAttempts && Stopwatch.GetTimestamp() < deadline; attempt++)
        {
            Change(() => instance.Attempts++);
            try
            {
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    var reply = await _agents.StageAsync(agent, version, token).ConfigureAwait(false);
                    if (reply.State == AgentState.Staged)
                    {
                        Commit(() =>
                        {
                            instance.Set(InstanceStatus.Staged);
                            instance.DownloadedTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                        });
                        return;
                    }

                    if (!reply.Ok)
                    {
                        Change(() => instance.Set(InstanceStatus.StageFailed, reply.Error));
                        break;
                    }

                    await Task.Delay(200, token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                if (token.IsCancellationRequested)
                {
                    throw;
                }

                Change(() => instance.Set(InstanceStatus.StageFailed, $"agent {agent}: {e.Message}"));
            }

            Save();
            if (attempt < retry.MaxAttempts)
            {
                await Task.Delay(retry.DelayAfter(attempt), token).ConfigureAwait(false);
            }
        }

        if (_options.DownPolicy == "skip")
        {
            Commit(() => instance.Set(InstanceStatus.Skipped, instance.Error));
        }
    }

    /// <summary>Activates on every staged instance. If a shard ends with no replica on the new
    /// version, the instances already switched go back to the previous version, so clients never
    /// keep a mix.</summary>
    private async Task<string?> ActivateAllAsync(VersionRecord version, CancellationToken token)
    {
        var staged = version.Instances.Where(i => i.StatusId.HasVersion()).ToList();
        await ForEachInstanceAsync(staged, instance => ActivateInstanceAsync(version, instance, token), token).ConfigureAwait(false);
        Save();

        var missing = Enumerable.Range(0, _options.ShardNum).Where(s => !version.Instances.Any(i => i.Shard == s && i.StatusId == InstanceStatus.Active)).ToList();
        if (missing.Count == 0)
        {
            return null;
        }

        VersionRecord? previous;
        lock (State)
        {
            previous = State.History.LastOrDefault(v => v.Label == State.Current);
        }

        if (previous is not null)
        {
            foreach (var instance in version.Instances.Where(i => i.StatusId == InstanceStatus.Active))
            {
                var back = previous.Instances.FirstOrDefault(p => p.Shard == instance.Shard && p.Replica == instance.Replica);
                if (back is not null)
                {
                    await ActivateInstanceAsync(previous, back, token).ConfigureAwait(false);
                }

                Change(() => instance.Set(InstanceStatus.Staged, "rolled back: another shard could not activate"));
            }
        }

        var why = version.Instances.Where(i => missing.Contains(i.Shard) && i.Error is not null).Select(i => $"shard {i.Shard} replica {i.Replica}: {i.Error}").Take(4);
        return $"shard(s) {string.Join(", ", missing)} could not activate it ({string.Join("; ", why)}); rolled back to {previous?.Label ?? "nothing"}";
    }

    /// <summary>Runs <paramref name="step"/> for every instance, at most transfer.conf's
    /// parallelism at once (the fan-out of staging and of activation).</summary>
    private Task ForEachInstanceAsync(List<InstanceRecord> instances, Func<InstanceRecord, Task> step, CancellationToken token) =>
        Parallel.ForEachAsync(instances, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = token }, async (instance, _) => await step(instance).ConfigureAwait(false));

    private async Task ActivateInstanceAsync(VersionRecord version, InstanceRecord instance, CancellationToken token)
    {
        var agent = new NodeAddress(instance.AgentIp, instance.AgentPort);
        var retry = ActivateRetry;
        for (var attempt = 1; attempt <= retry.MaxAttempts; attempt++)
        {
            try
            {
                string? retainFrom;
                lock (State)
                {
                    retainFrom = RetainFrom(State.History, version, _options.RetainVersions);
                }

                var reply = await _agents.ActivateAsync(agent, version, retainFrom, token).ConfigureAwait(false);
                if (reply.Ok)
                {
                    Change(() =>
                    {
                        instance.Set(InstanceStatus.Active);
                        instance.EnabledTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                    });
                    return;
                }

                Change(() => instance.Set(InstanceStatus.ActivateFailed, reply.Error));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                if (token.IsCancellationRequested)
                {
                    throw;
                }

                Change(() => instance.Set(InstanceStatus.ActivateFailed, $"agent {agent}: {e.Message}"));
            }

            if (attempt < retry.MaxAttempts)
            {
                await Task.Delay(retry.DelayAfter(attempt), token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The oldest version of <paramref name="activating"/>'s lineage that must stay
    /// roll-backable once it is live: the <paramref name="retainVersions"/>-th newest of the
    /// lineage's versions that were ever live, it included (null: fewer than that, or 0 = all).</summary>
    internal static string? RetainFrom(IEnumerable<VersionRecord> history, VersionRecord activating, int retainVersions)
    {
        if (retainVersions <= 0)
        {
            return null;
        }

        var newest = history.Where(v => v.Depend == activating.Depend && (v.WasActive || v == activating)).Select(v => v.Version).Append(activating.Version)
            .Distinct(StringComparer.Ordinal).OrderByDescending(v => v, Comparer<string>.Create(VersionId.Compare)).Take(retainVersions).ToList();
        return newest.Count < retainVersions ? null : newest[^1];
    }

    /// <summary>After a new base is active: every version of lineages older than the ones kept
    /// (transfer.conf's retain_lineages: this one and the one before, by default, so a rollback
    /// across a base finds its files) is retired on every agent (best effort; an agent that is
    /// down is retired when it catches up).</summary>
    private async Task RetireLineagesAsync(VersionRecord current, CancellationToken token)
    {
        List<VersionRecord> old;
        lock (State)
        {
            var kept = State.History.Where(v => v.WasActive && VersionId.Compare(v.Depend, current.Depend) <= 0).Select(v => v.Depend)
                .Distinct().OrderByDescending(d => d, Comparer<string>.Create(VersionId.Compare)).Take(_options.RetainLineages).ToHashSet(StringComparer.Ordinal);
            kept.Add(current.Depend);
            old = State.History.Where(v => !kept.Contains(v.Depend) && v.Built).ToList();
        }

        foreach (var version in old)
        {
            await RetireEverywhereAsync(version, token).ConfigureAwait(false);
        }
    }

    /// <summary>Asks every agent to delete its copy of a version (best effort: an agent that is
    /// down keeps it; an agent serving it refuses).</summary>
    private Task RetireEverywhereAsync(VersionRecord version, CancellationToken token) =>
        Task.WhenAll(_options.Agents.SelectMany(r => r).Select(async agent =>
        {
            try
            {
                await _agents.RetireAsync(agent, version, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                // best effort
            }
        }));

    /// <summary>Replicas that were skipped, or restarted behind, get the current lineage staged in
    /// order and the current version activated, once their agent answers again.</summary>
    private async Task CatchUpAsync(CancellationToken token)
    {
        VersionRecord? current;
        List<VersionRecord> lineage;
        lock (State)
        {
            current = State.History.LastOrDefault(v => v.Label == State.Current);
            if (current is null)
            {
                return;
            }

            lineage = State.History.Where(v => v.Depend == current.Depend && v.Status is VersionStatus.Finished or VersionStatus.Superseded && VersionId.Compare(v.Version, current.Version) <= 0)
                .OrderBy(v => v.Version, Comparer<string>.Create(VersionId.Compare)).ToList();
        }

        foreach (var instance in current.Instances.Where(i => i.StatusId != InstanceStatus.Active).ToList())
        {
            var agent = new NodeAddress(instance.AgentIp, instance.AgentPort);
            try
            {
                var status = await _agents.StatusAsync(agent, token).ConfigureAwait(false);
                if (status.LiveVersion != (current.IsBase ? current.Depend : current.Label))
                {
                    foreach (var step in lineage)
                    {
                        var stepInstance = step.Instances.First(i => i.Shard == instance.Shard && i.Replica == instance.Replica);
                        if (!stepInstance.StatusId.HasVersion() || step == current)
                        {
                            await StageInstanceAsync(step, stepInstance, token).ConfigureAwait(false);
                        }
                    }

                    await ActivateInstanceAsync(current, instance, token).ConfigureAwait(false);
                }
                else
                {
                    Change(() => instance.Set(InstanceStatus.Active));
                }

                if (instance.StatusId == InstanceStatus.Active)
                {
                    ControlLog.Transfer(_logger, $"shard {instance.Shard} replica {instance.Replica} caught up to {current.Label}");
                }

                Save();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                // still down: try again next poll
            }
        }
    }
}
