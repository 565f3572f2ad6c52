namespace Appliance.Core.Diagnostics;

/// <summary>A stretch of time in which a spinning thread did not run: from its last clock read
/// before the gap to its first after it, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
internal readonly record struct StallGap(long Start, long End);
