using System.Runtime.InteropServices;

namespace Appliance.Core.Native;

/// <summary>Which CPUs this process may run on, and pinning the calling thread to one of them
/// (sched_getaffinity / sched_setaffinity; a mask of up to <see cref="MaxCpus"/> CPUs).</summary>
internal static unsafe class CpuAffinity
{
    public const int MaxCpus = 1024;

    /// <summary>The CPUs the calling thread may run on (all of them where the call is unavailable).</summary>
    public static IReadOnlyList<int> Allowed()
    {
        var mask = stackalloc byte[MaxCpus / 8];
        if (!OperatingSystem.IsLinux() || LibC.sched_getaffinity(0, MaxCpus / 8, mask) != 0)
        {
            return Enumerable.Range(0, Environment.ProcessorCount).ToList();
        }

        var cpus = new List<int>();
        for (var cpu = 0; cpu < MaxCpus; cpu++)
        {
            if ((mask[cpu >> 3] & (1 << (cpu & 7))) != 0)
            {
                cpus.Add(cpu);
            }
        }

        return cpus;
    }

    /// <summary>Pins the calling thread to <paramref name="cpu"/>; false with the reason when the
    /// kernel refuses (a CPU that is offline or outside this process's cgroup/taskset).</summary>
    public static bool TryPin(int cpu, out string error)
    {
        error = string.Empty;
        if (cpu is < 0 or >= MaxCpus)
        {
            error = $"cpu {cpu} is outside 0..{MaxCpus - 1}";
            return false;
        }

        if (!OperatingSystem.IsLinux())
        {
            error = "pinning a thread needs Linux";
            return false;
        }

        var mask = stackalloc byte[MaxCpus / 8];
        new Span<byte>(mask, MaxCpus / 8).Clear();
        mask[cpu >> 3] = (byte)(1 << (cpu & 7));
        if (LibC.sched_setaffinity(0, MaxCpus / 8, mask) != 0)
        {
            error = $"cpu {cpu} is not available to this process (sched_setaffinity: {Marshal.GetLastPInvokeErrorMessage()})";
            return false;
        }

        return true;
    }
}
