using System.Diagnostics;
using Appliance.Core.Native;

namespace Appliance.Core.Diagnostics;

/// <summary>
/// How long a sleeping thread takes to run once another CPU wakes it — the step every request to
/// an idle server pays (the peer's write wakes the server's blocked thread on another CPU). A
/// thread on one CPU blocks in read() on an eventfd; a thread on another CPU sleeps for the idle
/// time (so the first CPU goes idle too, as a server's does between requests), notes the clock and
/// writes to the eventfd; the woken thread notes the clock again. On bare metal this is a few
/// microseconds (tens from a deep C-state); on a VM whose idle vCPU halts, the host must run that
/// vCPU again first, and the tail of this distribution is the floor of a served request's tail.
/// </summary>
internal static unsafe class WakeMeter
{
    /// <summary>Wakes <paramref name="to"/> from <paramref name="from"/> <paramref name="count"/>
    /// times. Throws <see cref="InvalidOperationException"/> naming the CPU or the call that failed.</summary>
    public static WakeReport Measure(int from, int to, int count, TimeSpan idle)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var fd = LibC.eventfd(0, 0);
        if (fd < 0)
        {
            throw new InvalidOperationException($"eventfd: {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}");
        }

        try
        {
            var latencies = new long[count];
            long sent = 0;
            var waiting = 0;
            var errors = new string?[2];
            using var pinned = new Barrier(2);
            bool Pin(int cpu, int slot)
            {
                if (!CpuAffinity.TryPin(cpu, out var e))
                {
                    errors[slot] = e;
                }

                pinned.SignalAndWait(); // neither starts unless both are where they should be
                return errors[0] is null && errors[1] is null;
            }

            var waiter = new Thread(() =>
            {
                if (!Pin(to, 0))
                {
                    return;
                }

                ulong value;
                for (var i = 0; i < count; i++)
                {
                    Volatile.Write(ref waiting, 1);
                    if (LibC.Read(fd, &value, 8) != 8)
                    {
                        errors[0] = $"read(eventfd): {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}";
                        Volatile.Write(ref waiting, -1);
                        return;
                    }

                    latencies[i] = Stopwatch.GetTimestamp() - Volatile.Read(ref sent);
                }
            })
            { IsBackground = true, Name = $"wake meter {to}" };
            var waker = new Thread(() =>
            {
                if (!Pin(from, 1))
                {
                    return;
                }

                ulong one = 1;
                var micros = (uint)Math.Max(1, idle.TotalMicroseconds);
                for (var i = 0; i < count; i++)
                {
                    // The waiter is blocked (or about to be) in read(): let both CPUs go idle, then wake it.
                    int state;
                    while ((state = Interlocked.Exchange(ref waiting, 0)) == 0)
                    {
                        Thread.Yield();
                    }

                    if (state < 0)
                    {
                        return; // the waiter failed; its error says why
                    }

                    LibC.usleep(micros);
                    Volatile.Write(ref sent, Stopwatch.GetTimestamp());
                    LibC.Write(fd, &one, 8);
                }
            })
            { IsBackground = true, Name = $"wake meter {from}" };
            waiter.Start();
            waker.Start();
            waker.Join();
            var bound = TimeSpan.FromSeconds(10) + (idle * count);
            if (!waiter.Join(bound))
            {
                // Not expected: a write to an eventfd always wakes its reader. Say so instead of hanging.
                throw new InvalidOperationException($"the woken thread on cpu {to} did not finish within {bound.TotalSeconds:F0} s");
            }

            var error = errors[0] ?? errors[1];
            if (error is not null)
            {
                throw new InvalidOperationException(error);
            }

            Array.Sort(latencies);
            double Us(double q) => latencies[Math.Min(count - 1, (int)(q * count))] * 1e6 / Stopwatch.Frequency;
            return new WakeReport(from, to, count, idle, Us(0.50), Us(0.99), Us(0.999), latencies[^1] * 1e6 / Stopwatch.Frequency);
        }
        finally
        {
            LibC.close(fd);
        }
    }
}
