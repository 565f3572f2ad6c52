using System.Diagnostics;
using System.Globalization;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Bench.Storage;

/// <summary>
/// Build throughput on the same SequenceFiles (40-byte values), medians of several runs, beside two
/// baselines from the same run: only reading the input (parallel, the floor any build pays) and
/// loading it into a Dictionary&lt;ulong, byte[]&gt; on one thread.
/// <c>-- build [--keys 5000000] [--files 8] [--shards 2] [--repeat 3]</c>
/// </summary>
internal static class BuildThroughput
{
    public static int Run(string[] args)
    {
        var keys = Arg(args, "--keys", 5_000_000);
        var files = Arg(args, "--files", 8);
        var shards = Arg(args, "--shards", 2);
        var repeat = Arg(args, "--repeat", 3);
        var root = Path.Combine(Path.GetTempPath(), $"cube-build-bench-{Environment.ProcessId}");
        var input = Path.Combine(root, "input");
        Directory.CreateDirectory(input);
        try
        {
            WriteInput(input, keys, files);
            var inputFiles = InputFiles.List(input);
            Console.WriteLine($"input: {keys:N0} records, 40-byte values, {files} SequenceFiles, {inputFiles.Sum(f => new FileInfo(f).Length) / 1e6:F0} MB; {Environment.ProcessorCount} cores; {repeat} runs each, median");
            ReadOnly(inputFiles); // warm the page cache

            var read = Median(repeat, () => ReadOnly(inputFiles));
            var dictionary = Median(repeat, () => LoadDictionary(inputFiles));
            var run = 0;
            var build = Median(repeat, () =>
            {
                var output = Path.Combine(root, $"out{run++}");
                var sw = Stopwatch.StartNew();
                TableBuilder.Build(new BuildOptions { InputPath = input, OutputPath = output, Dict = "t", Shards = shards, Version = "1" });
                var t = sw.Elapsed;
                Directory.Delete(output, true);
                return t;
            });

            Report("read input only (parallel)", keys, read);
            Report("Dictionary<ulong, byte[]> load (1 thread)", keys, dictionary);
            Report($"cube build, {shards} shards (all cores)", keys, build);
            Console.WriteLine($"build / dictionary load speed: {dictionary.TotalSeconds / build.TotalSeconds:F2}x");
            return 0;
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    private static void WriteInput(string input, int keys, int files)
    {
        var random = new Random(7);
        var writers = Enumerable.Range(0, files).Select(f => SequenceFileWriter.Create(Path.Combine(input, $"part-{f:D5}"), seed: f)).ToArray();
        var value = new byte[40];
        for (var i = 0; i < keys; i++)
        {
            random.NextBytes(value);
            writers[i % files].Write((ulong)random.NextInt64(), value);
        }

        foreach (var w in writers)
        {
            w.Dispose();
        }
    }

    private static TimeSpan ReadOnly(IReadOnlyList<string> files)
    {
        var sw = Stopwatch.StartNew();
        long sum = 0;
        Parallel.ForEach(files, f =>
        {
            using var reader = SequenceFileReader.Open(f);
            long local = 0;
            while (reader.MoveNext())
            {
                local += (long)reader.Key + reader.Value[0];
            }

            Interlocked.Add(ref sum, local);
        });
        GC.KeepAlive(sum);
        return sw.Elapsed;
    }

    private static TimeSpan LoadDictionary(IReadOnlyList<string> files)
    {
        var sw = Stopwatch.StartNew();
        var dict = new Dictionary<ulong, byte[]>();
        foreach (var f in files)
        {
            using var reader = SequenceFileReader.Open(f);
            while (reader.MoveNext())
            {
                dict[reader.Key] = reader.Value.ToArray();
            }
        }

        var t = sw.Elapsed;
        GC.KeepAlive(dict);
        return t;
    }

    private static TimeSpan Median(int repeat, Func<TimeSpan> run)
    {
        var times = new List<TimeSpan>();
        for (var i = 0; i < repeat; i++)
        {
            GC.Collect();
            times.Add(run());
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static void Report(string what, int keys, TimeSpan time) =>
        Console.WriteLine($"{what,-45} {time.TotalSeconds,8:F3} s  {keys / time.TotalSeconds / 1e6,8:F2} M keys/s");

    internal static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
