namespace Appliance.Core.Control.Transfer;

/// <summary>Where a version is in its rollout. The numbers are the original's
/// DictVersionInfo.status where it had one, and are on the wire (<c>status</c> in the deploy
/// history and the persisted state): never renumber.</summary>
internal enum VersionStatus
{
    Waiting = 0,
    Building = 20,
    Staging = 30,
    Staged = 50,
    Enabling = 80,
    Finished = 90,
    Superseded = 95,

    /// <summary>Was active everywhere until an operator rolled back to an older version.</summary>
    RolledBack = 96,

    /// <summary>An operator abandoned it: never built, staged or activated again.</summary>
    Abandoned = 97,
    Failed = 255,
}

/// <summary>The names the original's <c>status_str</c> shows.</summary>
internal static class VersionStatusNames
{
    public static string Name(this VersionStatus status) => status switch
    {
        VersionStatus.Building => "building",
        VersionStatus.Staging => "staging",
        VersionStatus.Staged => "staged",
        VersionStatus.Enabling => "activating",
        VersionStatus.Finished => "active",
        VersionStatus.Superseded => "superseded",
        VersionStatus.RolledBack => "rolled_back",
        VersionStatus.Abandoned => "abandoned",
        VersionStatus.Failed => "failed",
        _ => "waiting",
    };
}
