using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube build</c>: input files → shard packages. Also takes the original cube-builder's flags
/// (<c>-input_path= -output_path= -shard_num= -dict_name= -job_mode= -cur_version=
/// -depend_version= -last_version= -only_build=</c>) so existing scripts keep working.
/// </summary>
internal static class BuildCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("input", "input directory (every regular file under it, recursively) or one file", Meta: "DIR"),
        new("output", "output directory; the version lands in OUTPUT/<base>_<version>/", Meta: "DIR"),
        new("dict", "dict name", Meta: "NAME"),
        new("shards", "shard count; shard = key % N", Meta: "N"),
        new("mode", "base or delta", "base", Meta: "MODE"),
        new("version", "version id of this build (digits)", "now, unix seconds", Meta: "ID"),
        new("base", "for a delta: id of the base it patches", Meta: "ID"),
        new("value-codec", "raw (bytes as given), f32, f16 or i8 (float32 rows re-encoded)", "raw", Meta: "CODEC"),
        new("input-format", "seqfile or text (key:value / key<TAB>floats)", "seqfile", Meta: "FORMAT"),
        new("donefile", "take --input, --version (and --base for a patch) from the last line of this donefile", Meta: "FILE"),
        new("threads", "worker threads", Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture), Meta: "N"),
        new("memory-budget-mb", "memory a build may hold (about 1.25x the input it keeps); larger input is built in several passes", "two thirds of available memory", Meta: "MB"),
    ];

    /// <summary>Original flag → our option.</summary>
    private static readonly Dictionary<string, string> LegacyFlags = new(StringComparer.Ordinal)
    {
        ["input_path"] = "input",
        ["output_path"] = "output",
        ["shard_num"] = "shards",
        ["dict_name"] = "dict",
        ["job_mode"] = "mode",
        ["cur_version"] = "version",
        ["depend_version"] = "base",
    };

    public static int Run(string[] args)
    {
        var (translated, onlyBuild) = TranslateLegacy(args);
        var a = ParsedArgs.Parse(translated, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage(
                "cube build --input DIR --output DIR --dict NAME --shards N [options]",
                "Builds shard packages (index + values + manifest with checksums) from SequenceFiles or text.\nThe original cube-builder flags (-input_path= -output_path= -shard_num= -dict_name= -job_mode=\n-cur_version= -depend_version= -last_version= -only_build=) are accepted too.",
                Options));
            return 0;
        }

        if (a.Positionals.Count > 0)
        {
            throw new UsageException($"unexpected argument '{a.Positionals[0]}'");
        }

        if (!VersionModes.TryParse(a.Require("mode"), out var mode))
        {
            throw new UsageException($"option --mode: '{a.Get("mode")}' must be base or delta");
        }

        var input = a.Get("input");
        var version = a.Has("version") ? a.Require("version") : null;
        var baseId = a.Get("base");
        if (a.Get("donefile") is { } donefile)
        {
            var errors = new List<InputFormatException>();
            var entries = DonefileReader.Read(donefile, errors);
            if (errors.Count > 0)
            {
                throw errors[0];
            }

            var last = entries.Count > 0 ? entries[^1] : throw new InputFormatException(donefile, "line 1", "donefile holds no complete line");
            input ??= last.Input;
            version ??= last.Id;
            if (!last.IsBase)
            {
                mode = VersionMode.Delta;
                baseId ??= last.Key;
            }
        }

        // The original's only_build=true (its default) stamps the build with the current time.
        if (onlyBuild || version is null)
        {
            version = VersionId.Now();
        }

        if (mode == VersionMode.Base)
        {
            baseId = null;
        }

        if (!ValueCodecs.TryParse(a.Get("value-codec"), out var codec))
        {
            throw new UsageException($"option --value-codec: '{a.Get("value-codec")}' is not raw, f32, f16 or i8");
        }

        var options = new BuildOptions
        {
            InputPath = input ?? throw new UsageException("option --input is required"),
            OutputPath = a.Require("output"),
            Dict = a.Require("dict"),
            Shards = a.Int("shards", 1, 65536),
            Mode = mode,
            Version = version,
            Base = baseId,
            Codec = codec,
            InputFormat = a.Require("input-format"),
            Threads = a.Int("threads", 1, 1024),
            MemoryBudget = a.Has("memory-budget-mb") ? a.Long("memory-budget-mb", 1) << 20 : 0,
        };

        try
        {
            var progress = new BuildProgress();
            BuildResult result;
            using (var meter = ProgressMeter.ForConsole(progress.Describe))
            {
                result = TableBuilder.Build(options, meter.WriteLine, progress);
            }

            var seconds = result.Elapsed.TotalSeconds;
            Console.Out.WriteLine($"{result.Directory}\t{result.Info.Keys} keys\t{result.Info.InputRecords} records\t{seconds:F2} s\t{result.Info.InputRecords / Math.Max(seconds, 1e-9):F0} records/s");
            return 0;
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Rewrites <c>-flag=value</c> (single dash, the original's gflags style) to our
    /// options. Returns whether <c>-only_build</c> is in force (the original's default is true).</summary>
    private static (string[] Args, bool OnlyBuild) TranslateLegacy(string[] args)
    {
        var result = new List<string>();
        var legacy = false;
        var onlyBuild = true;
        foreach (var arg in args)
        {
            if (arg.Length > 1 && arg[0] == '-' && arg[1] != '-' && arg.Contains('=', StringComparison.Ordinal))
            {
                legacy = true;
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                var name = arg[1..eq];
                var value = arg[(eq + 1)..];
                if (LegacyFlags.TryGetValue(name, out var ours))
                {
                    result.Add($"--{ours}={value}");
                }
                else if (name == "only_build")
                {
                    onlyBuild = value is "true" or "1";
                }
                else if (name is "last_version" or "master_address")
                {
                    // last_version: our deltas find their predecessors in the output directory.
                    // master_address: meta lives in the manifests, not on the transfer.
                }
                else
                {
                    throw new UsageException($"unknown cube-builder flag -{name}");
                }

                continue;
            }

            result.Add(arg);
        }

        return (result.ToArray(), legacy && onlyBuild);
    }
}
