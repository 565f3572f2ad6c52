using System.Globalization;
using Appliance.Core.Training;

namespace Appliance.Cli;

/// <summary>
/// <c>cube gen-data --rows N --out FILE [--seed S]</c>: labelled Criteo-format rows from a hidden
/// click model (<see cref="SyntheticCriteo"/>), the model's own probabilities in FILE.truth, and
/// the best AUC any model can reach on them.
/// </summary>
internal static class GenDataCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("rows", "rows to write", "100000", Meta: "N"),
        new("out", "output file (FILE.truth gets each row's true P(click))", Meta: "FILE"),
        new("seed", "seed of the hidden model and of the rows (same seed, same file)", "1", Meta: "S"),
        new("stream", "draw other rows from the same hidden model (e.g. the next day's traffic for a delta)", "0", Meta: "K"),
        new("drift", "the hidden model changes along the rows: token effects turn D quarter turns per 100000 rows (1: unrelated to where they started after 100000 rows)", "0", Meta: "D"),
        new("from-row", "with --drift: this file's first row is row R of the timeline (continue a file of R rows)", "0", Meta: "R"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube gen-data --rows N --out FILE [--seed S] [--drift D --from-row R]", "Writes labelled Criteo-format rows whose labels come from a hidden model, and prints the best achievable AUC.", Options));
            return 0;
        }

        var rows = a.Long("rows", 1, 1L << 31);
        var path = a.Require("out");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory && !Directory.Exists(directory))
        {
            throw new UsageException($"option --out: directory {directory} does not exist (create it first)");
        }
        var drift = double.TryParse(a.Require("drift"), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is >= 0 and <= 1000 ? d : throw new UsageException("option --drift: needs a number in [0, 1000]");
        var summary = GeneratedData.Write(path, rows, a.Int("seed"), a.Int("stream", 0, int.MaxValue), drift, a.Long("from-row", 0, 1L << 40));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {summary.Rows} rows to {path} ({summary.Clicks} clicks, CTR {(double)summary.Clicks / summary.Rows:F3}); true P(click) per row in {path}{GeneratedData.TruthSuffix}"));
        if (drift > 0)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"drift {drift}: rows {a.Long("from-row", 0, 1L << 40)}..{a.Long("from-row", 0, 1L << 40) + rows} of the timeline (token effects turned {GeneratedData.Angle(drift, rows) / (Math.PI / 2):F2} quarter turns across this file)"));
        }

        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"best achievable AUC {summary.BestAuc:F4}  log loss {summary.BestLogLoss:F4} (the hidden model's own probabilities)"));
        return 0;
    }
}
