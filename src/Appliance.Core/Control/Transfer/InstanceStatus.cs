namespace Appliance.Core.Control.Transfer;

/// <summary>Where one shard replica is with one version. The numbers are the original's
/// DictInstance.status_id where it had one, and are on the wire (<c>status_id</c>): never renumber.</summary>
internal enum InstanceStatus
{
    Init = 10,
    StageFailed = 30,
    Staged = 40,
    ActivateFailed = 90,
    Active = 100,
    Skipped = 250,
}

/// <summary>The names the original's <c>status</c> shows.</summary>
internal static class InstanceStatusNames
{
    public static string Name(this InstanceStatus status) => status switch
    {
        InstanceStatus.Init => "init",
        InstanceStatus.StageFailed => "stage_failed",
        InstanceStatus.Staged => "staged",
        InstanceStatus.ActivateFailed => "activate_failed",
        InstanceStatus.Active => "active",
        InstanceStatus.Skipped => "skipped",
        _ => "unknown",
    };

    /// <summary>Staged or active: it has the version on disk.</summary>
    public static bool HasVersion(this InstanceStatus status) => status is InstanceStatus.Staged or InstanceStatus.Active;
}
