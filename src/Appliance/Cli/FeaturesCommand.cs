using System.Globalization;
using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Features;

namespace Appliance.Cli;

/// <summary>
/// <c>cube features --hash paddle|xxh64 FILE</c>: what the engine computes for each Criteo line —
/// the normalised dense values, a TAB, the 26 table keys — one output line per input line (a bad
/// line prints <c>ERROR&lt;TAB&gt;reason</c> in its place), for comparing online and offline features.
/// </summary>
internal static class FeaturesCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("hash", "paddle (CPython-2 hash mod 1000001, as the original demo trained) or xxh64 (64-bit, no modulo)", "paddle, or the model's", Meta: "SCHEME"),
        new("model", "take the hash scheme and the dense normalisation from this model package's model.json", Meta: "DIR"),
    ];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested || a.Positionals.Count != 1)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube features [--hash paddle|xxh64] [--model DIR] FILE (- for stdin)", "Prints, per Criteo line, the normalised dense values, a TAB, and the 26 keys.", Options));
            return a.HelpRequested ? 0 : 2;
        }

        var normalizer = DenseNormalizer.Criteo;
        var hashName = a.Has("hash") ? a.Get("hash") : "paddle";
        if (a.Get("model") is { } modelDirectory)
        {
            using var model = ModelPackage.Load(modelDirectory);
            normalizer = model.Normalizer;
            hashName = a.Has("hash") ? hashName : model.Spec.Hash;
        }

        if (!FeatureHasher.TryParse(hashName, out var scheme))
        {
            throw new UsageException($"option --hash: '{hashName}' is not paddle or xxh64");
        }

        var path = a.Positionals[0];
        using var input = path == "-" ? Console.In : new StreamReader(path);
        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
        var dense = new float[CriteoSample.DenseCount];
        var line = new StringBuilder();
        var errors = 0;
        var number = 0;
        while (input.ReadLine() is { } text)
        {
            number++;
            CriteoSample sample;
            try
            {
                sample = CriteoSample.Parse(text);
            }
            catch (FormatException e)
            {
                errors++;
                output.WriteLine($"ERROR\t{e.Message}");
                Console.Error.WriteLine($"{path}: line {number}: {e.Message}");
                continue;
            }

            normalizer.Normalize(sample.Dense, dense);
            line.Clear();
            for (var k = 0; k < dense.Length; k++)
            {
                line.Append(k == 0 ? string.Empty : " ").Append(dense[k].ToString(CultureInfo.InvariantCulture));
            }

            line.Append('\t');
            for (var s = 0; s < CriteoSample.SparseCount; s++)
            {
                line.Append(s == 0 ? string.Empty : " ").Append(FeatureHasher.Key(scheme, s, sample.Sparse[s]).ToString(CultureInfo.InvariantCulture));
            }

            output.WriteLine(line);
        }

        return errors == 0 ? 0 : 1;
    }
}
