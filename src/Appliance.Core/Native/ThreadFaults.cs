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
    private const int Window = 16;
    private const int RusageThread = 1;
    private const int MinorFaultsOffset = 64; // struct rusage: 2 timevals (32 bytes), then longs: maxrss, ixrss, idrss, isrss, minflt, majflt
    private const int MajorFaultsOffset = 72;
    private const int RusageSize = 144;

    [ThreadStatic]
    private static int t_countdown;

    [ThreadStatic]
    private static int t_perCall;

    /// <summary>Page faults this thread took in its last sampled call.</summary>
    public static int PerCall => t_perCall;

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
    /// become <see cref="PerCall"/>.</summary>
    public static void End(long begun)
    {
        if (begun >= 0)
        {
            t_perCall = (int)Math.Min(Count() - begun, int.MaxValue);
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
