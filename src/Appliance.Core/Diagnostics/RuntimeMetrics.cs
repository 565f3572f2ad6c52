namespace Appliance.Core.Diagnostics;

/// <summary>
/// The process's own costs, in every role's <c>/metrics</c>, under the names Prometheus's client
/// libraries use (<c>process_*</c>, <c>dotnet_*</c>) so stock dashboards find them: CPU seconds,
/// resident memory, and the garbage collector — collections per generation, total pause time and
/// bytes allocated. A serving path that allocates per request shows here as a steady rise of
/// gen-0 collections, and each collection is a pause of every request in flight.
/// </summary>
internal static class RuntimeMetrics
{
    private static readonly double StartTime = new DateTimeOffset(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;

    public static void Write(MetricsWriter metrics)
    {
        metrics.Counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", Environment.CpuUsage.TotalTime.TotalSeconds);
        metrics.Gauge("process_resident_memory_bytes", "Resident memory size in bytes (mapped table pages in the page cache included).", Environment.WorkingSet);
        metrics.Gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", Math.Round(StartTime, 3));
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            metrics.Counter("dotnet_gc_collections_total", "Garbage collections, by the generation collected.", GC.CollectionCount(generation), $"generation=\"{generation}\"");
        }

        metrics.Counter("dotnet_gc_pause_seconds_total", "Time every thread was paused for garbage collection, in seconds.", GC.GetTotalPauseDuration().TotalSeconds);
        metrics.Counter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.", GC.GetTotalAllocatedBytes());
        metrics.Gauge("dotnet_gc_heap_bytes", "Managed heap size after the last collection, in bytes.", GC.GetGCMemoryInfo().HeapSizeBytes);
        metrics.Gauge("dotnet_threadpool_threads", "Thread-pool threads.", ThreadPool.ThreadCount);
        metrics.Gauge("cube_native_blocks", "Native memory blocks of large requests and replies: in use by a request or connection, or cached for reuse (in use stays 0 on a quiet server).", Buffers.LargeBlockCache.Outstanding, "state=\"in_use\"");
        metrics.Gauge("cube_native_blocks", "Native memory blocks of large requests and replies: in use by a request or connection, or cached for reuse (in use stays 0 on a quiet server).", Buffers.LargeBlockCache.CachedBlocks, "state=\"cached\"");
        metrics.Gauge("cube_native_block_bytes", "Bytes of those native blocks, by state.", Buffers.LargeBlockCache.OutstandingBytes, "state=\"in_use\"");
        metrics.Gauge("cube_native_block_bytes", "Bytes of those native blocks, by state.", Buffers.LargeBlockCache.CachedBytes, "state=\"cached\"");
    }
}
