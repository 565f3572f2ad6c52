namespace Appliance.Core.Diagnostics;

/// <summary>A <see cref="WakeMeter"/> run: how long after being woken a thread on <see cref="To"/>
/// ran, woken <see cref="Count"/> times from <see cref="From"/>, each time after its CPU had been
/// idle for <see cref="Idle"/>. Percentiles in microseconds.</summary>
internal sealed record WakeReport(int From, int To, int Count, TimeSpan Idle, double P50Us, double P99Us, double P999Us, double MaxUs);
