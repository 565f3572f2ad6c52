using Appliance.Core.Diagnostics;

namespace Appliance.Core.Control.Transfer;

/// <summary>The transfer's /metrics: counters from its status, and the durations of rollout
/// phases and of whole rollouts.</summary>
internal sealed class TransferMetrics
{
    public LatencyHistogram Build { get; } = new(LatencyHistogram.LongBounds);

    public LatencyHistogram Stage { get; } = new(LatencyHistogram.LongBounds);

    public LatencyHistogram Activate { get; } = new(LatencyHistogram.LongBounds);

    public LatencyHistogram Rollouts { get; } = new(LatencyHistogram.LongBounds);

    public void Write(MetricsWriter metrics, TransferStatus s)
    {
        var labels = $"dict=\"{s.Dict}\"";
        metrics.Counter("cube_transfer_polls_total", "Donefile polls.", s.Polls, labels);
        metrics.Counter("cube_transfer_versions_activated_total", "Versions activated on every shard.", s.VersionsActivated, labels);
        metrics.Counter("cube_transfer_versions_failed_total", "Versions that could not reach every shard (the previous one kept serving).", s.VersionsFailed, labels);
        metrics.Gauge("cube_transfer_donefile_errors", "Donefile lines reported as bad and skipped.", s.DonefileErrors, labels);
        metrics.Gauge("cube_transfer_rollout_in_progress", "1 while a version is being built or rolled out.", s.InProgress is null ? 0 : 1, labels);
        if (s.CurrentVersion.Length > 0)
        {
            metrics.Gauge("cube_transfer_current_version_info", "The version live on every shard (the label; always 1).", 1, $"{labels},version=\"{MetricsWriter.Escape(s.CurrentVersion)}\"");
        }

        metrics.Gauge("cube_transfer_pinned", "1 while an operator has pinned the dict (nothing new is activated).", s.Pinned is null ? 0 : 1, labels);
        const string Phase = "Rollout phases in seconds (build, stage on every replica, activate on every replica), each time one completes.";
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, Build, $"{labels},phase=\"build\"");
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, Stage, $"{labels},phase=\"stage\"");
        metrics.Histogram("cube_transfer_phase_duration_seconds", Phase, Activate, $"{labels},phase=\"activate\"");
        metrics.Histogram("cube_transfer_rollout_duration_seconds", "Whole rollouts in seconds (build + stage + activate) of versions that became live on every shard.", Rollouts, labels);
    }
}
