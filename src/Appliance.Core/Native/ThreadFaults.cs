namespace Appliance.Core.Native;

/// <summary>
/// "How many page faults did this thread's calls take lately?" — one call in every
/// <see cref="Window"/> is sampled with a getrusage(RUSAGE_THREAD) before and after it (a fraction
/// of a microsecond each), so a lookup can pay for overlapping its page faults only while enough
/// pages are missing for that to pay. Only faults between <see cref="Begin"/> and
/// <see cref="End"/> count: what the thread does between calls (an ONNX Runtime run touching fresh
/// memory on an engine's thread, say) must not switch the caller's mode. Major and minor faults
/// both count: once a request's reads were started ahead (MADV_WILLNEED), its faults find the pages
/// in the page cache and are minor, and the measure must not drop for that. A fully mapped table in
/// steady state takes none.
/// </summary>
internal static unsafe class ThreadFaults
{
    internal const int Window = 64; // 2 getrusage per 64 calls: at 16 they were 1.6 % of a busy server's CPU (perf)
    private const int RusageThread = 1;
    private const int MinorFaultsOffset = 64; // struct rusage: 2 timevals (32 bytes), then longs: maxrss, ixrss, idrss, isrss, minflt, majflt
    private const int MajorFaultsOffset = 72;
    private const int RusageSize = 144;

    [ThreadStatic]
    private static int t_countdown;

    /// <summary>Sampled calls' faults, averaged (each sample a quarter of the weight), in 1/256ths.</summary>
    [ThreadStatic]
    private static long t_average;

    /// <summary>Page faults per call on this thread, a moving average over its sampled calls (one
    /// call's count alone is too noisy: at 90 % of a package in memory, 1.4 faults per call on
    /// average, single calls of 3 or more switched reading ahead on where it costs more than it
    /// saves).</summary>
    public static int PerCall => (int)Math.Min(t_average >> 8, int.MaxValue);

    /// <summary>At the start of a call: a sample to hand to <see cref="End"/>, or -1 when this call
    /// is not sampled.</summary>
    public static long Begin()
    {
        if (--t_countdown > 0)
        {
            return -1;
        }

        t_countdown = Window;
        return Count();
    }

    /// <summary>At the end of the call <paramref name="begun"/> came from: a sampled call's faults
    /// go into <see cref="PerCall"/>.</summary>
    public static void End(long begun)
    {
        if (begun >= 0)
        {
            var faults = Math.Min(Count() - begun, 1L << 40);
            t_average = ((t_average * 3) + (faults << 8)) / 4;
        }
    }

    /// <summary>This thread's major + minor page faults so far (0 where unavailable).</summary>
    public static long Count()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        var usage = stackalloc byte[RusageSize];
        return LibC.getrusage(RusageThread, usage) == 0
            ? *(long*)(usage + MinorFaultsOffset) + *(long*)(usage + MajorFaultsOffset)
            : 0;
    }
}
