namespace Appliance.Core.Control.Transfer;

/// <summary>Where a version is in its rollout. The numbers are the original's
/// DictVersionInfo.status where it had one, and are on the wire (<c>status</c> in the deploy
/// history and the persisted state): never renumber.</summary>
public enum VersionStatus
{
    Waiting = 0,
    Building = 20,
    Staging = 30,
    Staged = 50,
    Enabling = 80,
    Finished = 90,
    Superseded = 95,
    Failed = 255,
}

/// <summary>The names the original's <c>status_str</c> shows.</summary>
public static class VersionStatusNames
{
    public static string Name(this VersionStatus status) => status switch
    {
        VersionStatus.Building => "building",
        VersionStatus.Staging => "staging",
        VersionStatus.Staged => "staged",
        VersionStatus.Enabling => "activating",
        VersionStatus.Finished => "active",
        VersionStatus.Superseded => "superseded",
        VersionStatus.Failed => "failed",
        _ => "waiting",
    };
}
