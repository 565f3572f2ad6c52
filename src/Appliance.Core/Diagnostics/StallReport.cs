namespace Appliance.Core.Diagnostics;

/// <summary>A <see cref="StallMeter"/> run: per CPU what its thread lost, and the time in which
/// every thread was stalled at once (the whole machine stopped: a host throttling or descheduling
/// this VM, not one busy CPU).</summary>
internal sealed record StallReport(TimeSpan Duration, TimeSpan Threshold, IReadOnlyList<CpuStalls> Cpus, TimeSpan AllAtOnce);
