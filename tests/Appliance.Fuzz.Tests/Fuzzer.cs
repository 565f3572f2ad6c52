using System.Diagnostics;
using System.Security.Cryptography;

namespace Appliance.Fuzz.Tests;

/// <summary>
/// An in-process mutation fuzzer (libFuzzer-style driver, no coverage feedback): inputs are made
/// by mutating a corpus of valid ones (bit flips, byte sets, interesting integers, inserts,
/// deletes, duplicated and spliced chunks) and run through one parser. The invariant for every
/// input: the parser returns or throws one of its documented error types — no other exception,
/// no input slower than <see cref="SlowInput"/>, none allocating more than
/// <see cref="MaxAllocation"/>. A violation is saved under fuzz-regressions/&lt;target&gt;/ (when
/// FUZZ_SAVE is set) and reported; the regressions are replayed by the normal test run.
/// </summary>
public sealed class Fuzzer(string target, IReadOnlyList<byte[]> corpus, Action<byte[]> run, params Type[] expected)
{
    public static readonly TimeSpan SlowInput = TimeSpan.FromSeconds(2);
    public const long MaxAllocation = 256L << 20;

    private static readonly long[] Interesting = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 16, 64 << 20];

    public string Target => target;

    /// <summary>The valid inputs mutations start from (scripts/fuzz.sh --afl seeds afl-fuzz with them).</summary>
    public IReadOnlyList<byte[]> Corpus => corpus;

    /// <summary>What a run did: executions, time, and the first violation (null if none).</summary>
    public sealed record Report(string Target, long Executions, TimeSpan Elapsed, string? Failure, byte[]? FailingInput);

    public Report Run(int seed, TimeSpan duration, long maxExecutions)
    {
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        long executions = 0;
        foreach (var input in corpus)
        {
            if (Check(input) is { } failure)
            {
                return Fail(input, failure, executions, clock.Elapsed);
            }

            executions++;
        }

        while (clock.Elapsed < duration && executions < maxExecutions)
        {
            var input = Mutate(random);
            if (Check(input) is { } failure)
            {
                return Fail(input, failure, executions, clock.Elapsed);
            }

            executions++;
        }

        return new Report(target, executions, clock.Elapsed, null, null);
    }

    /// <summary>Runs one input; the violation, or null.</summary>
    public string? Check(byte[] input)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        try
        {
            run(input);
        }
        catch (Exception e) when (expected.Any(t => t.IsInstanceOfType(e)))
        {
            // a documented refusal
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}\n{e.StackTrace}";
        }

        var took = Stopwatch.GetElapsedTime(started);
        if (took > SlowInput)
        {
            return $"took {took.TotalSeconds:F1} s";
        }

        var bytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
        return bytes > MaxAllocation ? $"allocated {bytes >> 20} MiB" : null;
    }

    private Report Fail(byte[] input, string failure, long executions, TimeSpan elapsed)
    {
        if (Environment.GetEnvironmentVariable("FUZZ_SAVE") is { Length: > 0 } root)
        {
            var directory = Path.Combine(root, target);
            Directory.CreateDirectory(directory);
            File.WriteAllBytes(Path.Combine(directory, Convert.ToHexStringLower(SHA256.HashData(input))[..16] + ".bin"), input);
        }

        return new Report(target, executions, elapsed, failure, input);
    }

    private byte[] Mutate(Random random)
    {
        var data = new List<byte>(corpus[random.Next(corpus.Count)]);
        var steps = 1 + random.Next(4);
        for (var s = 0; s < steps; s++)
        {
            switch (random.Next(8))
            {
                case 0 when data.Count > 0:
                    data[random.Next(data.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[random.Next(data.Count)] = (byte)random.Next(256);
                    break;
                case 2 when data.Count >= 4:
                    {
                        var at = random.Next(data.Count - 3);
                        var value = Interesting[random.Next(Interesting.Length)];
                        var width = random.Next(2) == 0 ? 4 : Math.Min(8, data.Count - at);
                        for (var i = 0; i < width; i++)
                        {
                            data[at + i] = (byte)(value >> (8 * i));
                        }

                        break;
                    }

                case 3:
                    data.Insert(random.Next(data.Count + 1), (byte)random.Next(256));
                    break;
                case 4 when data.Count > 0:
                    {
                        var at = random.Next(data.Count);
                        data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(16)));
                        break;
                    }

                case 5 when data.Count > 0:
                    {
                        var at = random.Next(data.Count);
                        var chunk = data.GetRange(at, Math.Min(data.Count - at, 1 + random.Next(64)));
                        data.InsertRange(random.Next(data.Count + 1), chunk);
                        break;
                    }

                case 6:
                    {
                        var other = corpus[random.Next(corpus.Count)];
                        if (other.Length > 0)
                        {
                            var at = random.Next(other.Length);
                            data.InsertRange(random.Next(data.Count + 1), other.AsSpan(at, Math.Min(other.Length - at, 1 + random.Next(64))).ToArray());
                        }

                        break;
                    }

                case 7 when data.Count > 0:
                    {
                        var keep = random.Next(data.Count);
                        data.RemoveRange(keep, data.Count - keep);
                        break;
                    }
            }
        }

        return [.. data];
    }
}
