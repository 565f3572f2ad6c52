using System.Globalization;

namespace Appliance.Cli;

/// <summary>
/// A reflection-free command-line parser: <c>--name value</c>, <c>--name=value</c>, flags, and
/// positionals; <c>--</c> ends options. Unknown options fail with the option named.
/// </summary>
internal sealed class ParsedArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OptionSpec> _specs;

    private ParsedArgs(IReadOnlyList<OptionSpec> specs)
    {
        _specs = specs.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    public List<string> Positionals { get; } = [];

    public bool HelpRequested { get; private set; }

    public static ParsedArgs Parse(IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs)
    {
        var parsed = new ParsedArgs(specs);
        var optionsEnded = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || !arg.StartsWith("--", StringComparison.Ordinal) || arg == "-")
            {
                parsed.Positionals.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            if (arg is "--help" or "-h")
            {
                parsed.HelpRequested = true;
                continue;
            }

            var name = arg[2..];
            string? value = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }

            if (!parsed._specs.TryGetValue(name, out var spec))
            {
                // The original's gflags spell some names with '_' (in_mem), ours mostly with '-'.
                var other = name.Contains('_', StringComparison.Ordinal) ? name.Replace('_', '-') : name.Replace('-', '_');
                throw new UsageException(parsed._specs.ContainsKey(other)
                    ? $"unknown option --{name}; did you mean --{other}? (see --help)"
                    : $"unknown option --{name} (see --help)");
            }

            if (spec.IsFlag)
            {
                parsed._values[name] = value ?? "true";
                continue;
            }

            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"option --{name} needs a value");
                }

                value = args[++i];
            }

            parsed._values[name] = value;
        }

        return parsed;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) =>
        _values.TryGetValue(name, out var v) ? v : _specs.TryGetValue(name, out var s) ? s.Default : null;

    public string Require(string name) =>
        Get(name) is { Length: > 0 } v ? v : throw new UsageException($"option --{name} is required");

    public bool Flag(string name)
    {
        var v = Get(name);
        return v switch
        {
            null or "false" or "0" => false,
            "true" or "1" => true,
            _ => throw new UsageException($"option --{name}: '{v}' is not true or false"),
        };
    }

    public long Long(string name, long min = long.MinValue, long max = long.MaxValue)
    {
        var v = Require(name);
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw new UsageException($"option --{name}: '{v}' is not an integer in [{min}, {max}]");
        }

        return n;
    }

    public int Int(string name, int min = int.MinValue, int max = int.MaxValue) => (int)Long(name, min, max);

    public double Double(string name)
    {
        var v = Require(name);
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x)
            ? x
            : throw new UsageException($"option --{name}: '{v}' is not a number");
    }

    public static string Usage(string synopsis, string description, IReadOnlyList<OptionSpec> specs)
    {
        var lines = new List<string> { $"usage: {synopsis}", string.Empty, description, string.Empty, "options:" };
        foreach (var s in specs)
        {
            var left = s.IsFlag ? $"--{s.Name}" : $"--{s.Name} {s.Meta ?? "VALUE"}";
            var def = s.Default is null ? string.Empty : $" (default: {s.Default})";
            lines.Add($"  {left,-28} {s.Help}{def}");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
