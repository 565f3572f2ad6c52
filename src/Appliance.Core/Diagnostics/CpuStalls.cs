namespace Appliance.Core.Diagnostics;

/// <summary>What one CPU's spinning thread lost: the gaps over the threshold, their total, the
/// longest, and how many were over 1, 5 and 10 ms. <see cref="Truncated"/>: more gaps than could be
/// kept for <see cref="StallReport.AllAtOnce"/> (the counts still include every one).</summary>
internal sealed record CpuStalls(int Cpu, long Gaps, TimeSpan Lost, TimeSpan Longest, long Over1Ms, long Over5Ms, long Over10Ms, bool Truncated);
