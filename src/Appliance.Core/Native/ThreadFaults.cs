namespace Appliance.Core.Native;

/// <summary>
/// "How many page faults has this thread taken per call lately?" — measured over every
/// <see cref="Window"/> calls with one getrusage(RUSAGE_THREAD) (a fraction of a microsecond), so
/// a lookup can pay for overlapping its page faults only while enough pages are missing for that to
/// pay. Major and minor faults both count: once a request's reads were started ahead
/// (MADV_WILLNEED), its faults find the pages in the page cache and are minor, and the measure must
/// not drop for that. A fully mapped table in steady state takes none.
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
    private static long t_last;

    [ThreadStatic]
    private static int t_perCall;

    /// <summary>This thread's page faults per call over its last window of calls (rounded down).</summary>
    public static int PerCall()
    {
        if (--t_countdown > 0)
        {
            return t_perCall;
        }

        t_countdown = Window;
        var faults = Count();
        t_perCall = t_last == 0 ? 0 : (int)Math.Min((faults - t_last) / Window, int.MaxValue);
        t_last = faults;
        return t_perCall;
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
