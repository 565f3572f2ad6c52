using Appliance.Core.Control.Transfer;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>retain_versions: the oldest version of a lineage that must stay roll-backable is the
/// N-th newest of its versions that were live on every shard; a version being activated, versions
/// never live, and other lineages do not count.</summary>
public sealed class RetainFromTests
{
    private static VersionRecord Version(string depend, string version, VersionStatus status) =>
        new() { Depend = depend, Version = version, Mode = depend == version ? VersionMode.Base : VersionMode.Delta, Status = status };

    private static readonly VersionRecord[] History =
    [
        Version("50", "50", VersionStatus.Superseded),
        Version("50", "60", VersionStatus.Superseded),
        Version("100", "100", VersionStatus.Superseded),
        Version("100", "101", VersionStatus.Superseded),
        Version("100", "102", VersionStatus.Failed), // never live
        Version("100", "103", VersionStatus.RolledBack), // was live
        Version("100", "104", VersionStatus.Finished),
    ];

    [Theory]
    [InlineData(0, "105", null)] // 0: every version stays
    [InlineData(1, "105", "104")] // 105 is not live yet: 104 is still served elsewhere
    [InlineData(2, "105", "103")]
    [InlineData(3, "105", "101")] // 102 never went live
    [InlineData(4, "105", "100")]
    [InlineData(5, "105", null)] // fewer than five in this lineage: all stay
    [InlineData(2, "104", "103")] // re-activating one already counted
    [InlineData(2, "103", "103")] // a rollback's check: the floor is the same for every version of the lineage
    public void TheFloorIsTheNthNewestVersionThatWasLive(int retain, string version, string? expected)
    {
        var record = History.FirstOrDefault(v => v.Version == version) ?? Version("100", version, VersionStatus.Enabling);
        Assert.Equal(expected, RolloutPlan.RetainFrom(History, record, retain));
    }

    [Fact]
    public void IdsCompareAsNumbers() =>
        Assert.Equal("99", RolloutPlan.RetainFrom([Version("9", "9", VersionStatus.Superseded), Version("9", "99", VersionStatus.Superseded), Version("9", "100", VersionStatus.Finished)], Version("9", "101", VersionStatus.Enabling), 2));
}
