using System.Diagnostics;
using Appliance.Core.Diagnostics;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Transfer;

/// <summary>The rollout of one version: build → stage everywhere → activate everywhere → retire.</summary>
internal sealed partial class TransferRole
{
    private async Task DeployAsync(VersionRecord version, CancellationToken stopping)
    {
        // Building and staging stop early for an operator's abandon; activation never does.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _state.Change(_ => _deploying = (version, abandon));
        var token = abandon.Token;
        var build = new BuildProgress();
        using var progress = ProgressMeter.ForLog(() => DescribeRollout(version, build), line => ControlLog.Transfer(_logger, line), TimeSpan.FromSeconds(_options.ProgressSeconds));
        try
        {
            // An activation cut short by a kill goes straight on (RolloutPlan.Next resumes it first).
            if (version.Status != VersionStatus.Enabling && !await BuildAndStageAsync(version, build, token).ConfigureAwait(false))
            {
                return;
            }

            token = stopping;
            var activating = Stopwatch.GetTimestamp();
            var problem = await _replicas.ActivateAllAsync(version, token).ConfigureAwait(false);
            _state.Change(_ => version.ActivateSeconds += Since(activating));
            _metrics.Activate.Observe(Stopwatch.GetElapsedTime(activating));
            if (problem is not null)
            {
                Failed(version, problem);
                return;
            }

            _state.Commit(s => RolloutSteps.Finish(s, version, Now));

            // A version went live everywhere: the error of an earlier attempt (of this version or
            // a poll before it) is history now (it stays in the version's record), not the state.
            _lastError = null;
            _metrics.Rollouts.Observe(version.TotalSeconds);
            ControlLog.Transfer(_logger, $"{version.Label} is active on every shard (build {version.BuildSeconds:F1} s, stage {version.StageSeconds:F1} s, activate {version.ActivateSeconds:F1} s)");
            if (version.IsBase)
            {
                foreach (var old in _state.Read(s => RolloutPlan.ToRetire(s.History, version, _options.RetainLineages)))
                {
                    await _replicas.RetireEverywhereAsync(old, token).ConfigureAwait(false);
                }
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
            _state.Change(_ => _deploying = null);
        }
    }

    /// <summary>Builds (unless built) and stages everywhere; true when activation may start, false
    /// when the version failed or waits, staged, for an unpin.</summary>
    private async Task<bool> BuildAndStageAsync(VersionRecord version, BuildProgress build, CancellationToken token)
    {
        if (!version.Built)
        {
            _state.Commit(_ => version.Set(VersionStatus.Building));
            var building = Stopwatch.GetTimestamp();
            await _builder.BuildAsync(version, build, token).ConfigureAwait(false);
            _state.Commit(_ =>
            {
                version.Built = true;
                version.BuildSeconds = Since(building);
            });
            _metrics.Build.Observe(Stopwatch.GetElapsedTime(building));
        }

        _state.Commit(_ => version.Set(VersionStatus.Staging));
        var staging = Stopwatch.GetTimestamp();
        var problem = await _replicas.StageAllAsync(version, token).ConfigureAwait(false);
        _state.Change(_ => version.StageSeconds += Since(staging));
        _metrics.Stage.Observe(Stopwatch.GetElapsedTime(staging));
        if (problem is not null)
        {
            Failed(version, problem);
            return false;
        }

        token.ThrowIfCancellationRequested();
        if (!_state.Commit(s => (RolloutSteps.StartActivating(s, version), true)))
        {
            ControlLog.Transfer(_logger, $"{version.Label} is staged and waits: the dict is pinned at {Snapshot.Pinned}");
            return false;
        }

        return true;
    }

    private void Failed(VersionRecord version, string problem)
    {
        _state.Commit(_ => RolloutSteps.Fail(version, problem, Now));
        _lastError = $"{version.Label}: {problem}";
        ControlLog.TransferWarning(_logger, $"{version.Label} failed, {Snapshot.Current ?? "nothing"} keeps serving: {problem}");
    }

    /// <summary>"rollout 100_101 building: build: 1.2 M records …" or "rollout 100_101 staging:
    /// 0/0 staged, 0/1 downloading, 1/0 error (connection refused), 1/1 staged": the periodic
    /// progress line of a rollout.</summary>
    private string DescribeRollout(VersionRecord version, BuildProgress build)
    {
        var head = $"rollout {version.Label} {version.StatusStr}";
        return version.Status == VersionStatus.Building ? $"{head}: {build.Describe()}" : $"{head}: {_replicas.DescribeReplicas(version)}";
    }

    private static double Since(long startTicks) => Stopwatch.GetElapsedTime(startTicks).TotalSeconds;
}
