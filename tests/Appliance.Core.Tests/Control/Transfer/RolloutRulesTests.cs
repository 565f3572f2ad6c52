using Appliance.Core.Control.Transfer;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>The rules the model-based test found missing, each as the smallest history that needs it.</summary>
public sealed class RolloutRulesTests
{
    private static VersionRecord Version(string depend, string version, VersionStatus status, params InstanceStatus[] replicas)
    {
        var record = new VersionRecord { Depend = depend, Version = version, Id = version, Key = depend, Mode = depend == version ? VersionMode.Base : VersionMode.Delta };
        record.Set(status);
        record.Instances = [.. replicas.Select((s, r) => Instance(r, s))];
        return record;
    }

    private static InstanceRecord Instance(int replica, InstanceStatus status)
    {
        var instance = new InstanceRecord { Shard = 0, Replica = replica };
        instance.Set(status);
        return instance;
    }

    /// <summary>A kill during activation leaves some replicas on the new version: it is finished
    /// first, even while pinned (pinned, it used to wait forever, half switched).</summary>
    [Fact]
    public void AnActivationCutShortIsResumedEvenWhilePinned()
    {
        var live = Version("100", "100", VersionStatus.Finished);
        var switching = Version("100", "101", VersionStatus.Enabling);
        var decision = RolloutPlan.Next("100_100", "100_100", [live, switching], [], [], now: 0);
        Assert.Equal(RolloutPlan.Step.Resume, decision.Step);
        Assert.Same(switching, decision.Existing);
    }

    [Fact]
    public void APinSetWhileActivatingHoldsAtTheVersionThatWentLive()
    {
        var state = new TransferState { Current = "100_100", Pinned = "100_100", History = [Version("100", "100", VersionStatus.Finished), Version("100", "101", VersionStatus.Enabling)] };
        RolloutSteps.Finish(state, state.History[1], now: 5);
        Assert.Equal(("100_101", "100_101"), (state.Current, state.Pinned));
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "activating", "100_101 is activating" },
        { "served with nothing before it", "served by shard 0 replica 1" },
        { "base under a patch in progress", "100_101 is being rolled out on top of 100_100" },
    };

    /// <summary>Abandons that would leave an abandoned version served, or a patch deployed on an abandoned base.</summary>
    [Theory]
    [MemberData(nameof(Refusals))]
    public void AbandonIsRefused(string situation, string why)
    {
        var history = situation switch
        {
            "activating" => new List<VersionRecord> { Version("100", "100", VersionStatus.Finished), Version("100", "101", VersionStatus.Enabling) },
            "served with nothing before it" => [Version("100", "100", VersionStatus.Failed, InstanceStatus.ActivateFailed, InstanceStatus.Active)],
            _ => [Version("90", "90", VersionStatus.Finished), Version("100", "100", VersionStatus.Superseded), Version("100", "101", VersionStatus.Staged)],
        };
        var current = history[0].Status == VersionStatus.Finished ? history[0].Label : null;
        var target = situation == "activating" ? history[1] : situation == "served with nothing before it" ? history[0] : history[1];
        Assert.Contains(why, RolloutPlan.WhyNotAbandon(current, history, target), StringComparison.Ordinal);
    }

    [Fact]
    public void RollbackWaitsForAnActivationInProgress()
    {
        var state = new TransferState { Current = "100_101", History = [Version("100", "100", VersionStatus.Superseded), Version("100", "101", VersionStatus.Finished), Version("100", "102", VersionStatus.Enabling)] };
        Assert.Null(RolloutPlan.RollbackTarget(state, null, 0, out var refusal));
        Assert.Contains("100_102 is activating", refusal!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RollbackRefusesAVersionWhoseBaseWasAbandoned()
    {
        var state = new TransferState { Current = "200_200", History = [Version("100", "100", VersionStatus.Abandoned), Version("100", "101", VersionStatus.Superseded), Version("200", "200", VersionStatus.Finished)] };
        Assert.Null(RolloutPlan.RollbackTarget(state, "100_101", 0, out var refusal));
        Assert.Contains("base of 100_101 was abandoned", refusal!.Message, StringComparison.Ordinal);
    }

    /// <summary>An abandoned version that was live still counts for the floor: the agents folded by it.</summary>
    [Fact]
    public void AnAbandonedVersionThatWasLiveStillCountsForTheFloor()
    {
        var abandoned = Version("100", "103", VersionStatus.Abandoned);
        abandoned.FinishTime = 1;
        var history = new[] { Version("100", "100", VersionStatus.Superseded), Version("100", "101", VersionStatus.Superseded), Version("100", "102", VersionStatus.Finished), abandoned };
        Assert.Equal("102", RolloutPlan.RetainFrom(history, history[2], 2));
    }

    /// <summary>A replica whose switch was not confirmed (its reply came too late) may serve the
    /// failed version: the live version's record stops calling it active, so catch-up checks it.</summary>
    [Fact]
    public void AnUnconfirmedSwitchIsCheckedAtTheNextPoll()
    {
        var live = Version("100", "100", VersionStatus.Finished, InstanceStatus.Active, InstanceStatus.Active);
        var failed = Version("100", "101", VersionStatus.Enabling, InstanceStatus.Staged, InstanceStatus.ActivateFailed);
        RolloutSteps.Unconfirmed(failed, live);
        Assert.Equal([InstanceStatus.Active, InstanceStatus.ActivateFailed], live.Instances.Select(i => i.StatusId));
        Assert.Contains("may be served", live.Instances[1].Error, StringComparison.Ordinal);
    }
}
