using System.Text.Json;

namespace Appliance.Core.Control.Transfer;

/// <summary>The transfer's part of /status and /metrics.</summary>
public sealed class TransferReporter(TransferRole transfer) : IRoleReporter
{
    public string Role => "transfer";

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, transfer.GetStatus(), ControlJsonContext.Default.TransferStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = transfer.GetStatus();
        var labels = $"dict=\"{s.Dict}\"";
        metrics.Counter("cube_transfer_polls_total", "Donefile polls.", s.Polls, labels);
        metrics.Counter("cube_transfer_versions_activated_total", "Versions activated on every shard.", s.VersionsActivated, labels);
        metrics.Counter("cube_transfer_versions_failed_total", "Versions that could not reach every shard (the previous one kept serving).", s.VersionsFailed, labels);
        metrics.Gauge("cube_transfer_donefile_errors", "Donefile lines reported as bad and skipped.", s.DonefileErrors, labels);
        metrics.Gauge("cube_transfer_rollout_in_progress", "1 while a version is being built or rolled out.", s.InProgress is null ? 0 : 1, labels);
    }
}
