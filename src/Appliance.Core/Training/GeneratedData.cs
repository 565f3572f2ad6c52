using System.Globalization;
using System.Text;

namespace Appliance.Core.Training;

/// <summary>
/// Writes <c>cube gen-data</c>'s two files: the labelled Criteo rows (FILE) and, beside them,
/// <c>FILE.truth</c> holding the hidden model's P(click) for each row, line for line, so the best
/// achievable AUC can be computed for any slice of the rows (e.g. a trainer's held-out tail).
/// Both are written under temporary names and renamed when complete.
/// </summary>
internal static class GeneratedData
{
    public const string TruthSuffix = ".truth";

    /// <summary>Rows over which a drift of 1 turns the token effects a quarter turn (from w₀ to
    /// the independent w₁; <see cref="SyntheticCriteo"/>).</summary>
    public const long DriftRows = 100_000;

    public sealed record Summary(long Rows, long Clicks, double BestAuc, double BestLogLoss);

    /// <summary>Writes <paramref name="rows"/> rows of the hidden model chosen by <paramref name="seed"/>;
    /// another <paramref name="stream"/> draws different rows from the same model (later traffic).
    /// With <paramref name="drift"/> the model changes along the rows: row r of the file is row
    /// <paramref name="fromRow"/> + r of one timeline, whose token effects turn by
    /// drift × π/2 every <see cref="DriftRows"/> rows (files with the same seed and drift continue
    /// each other when each starts where the last ended).</summary>
    public static Summary Write(string path, long rows, int seed, int stream = 0, double drift = 0, long fromRow = 0)
    {
        var model = new SyntheticCriteo(seed);
        var random = new Random(unchecked((seed * 7919) + 17 + (stream * 104_729)));
        var truthPath = path + TruthSuffix;
        var temporary = $"{path}.tmp-{Environment.ProcessId}";
        var temporaryTruth = $"{truthPath}.tmp-{Environment.ProcessId}";
        var pairs = new List<(double Score, int Label)>((int)Math.Min(rows, int.MaxValue));
        try
        {
            using (var data = new StreamWriter(temporary, false, new UTF8Encoding(false), 1 << 16))
            using (var truth = new StreamWriter(temporaryTruth, false, new UTF8Encoding(false), 1 << 16))
            {
                var line = new StringBuilder(256);
                for (long r = 0; r < rows; r++)
                {
                    line.Clear();
                    var p = model.Sample(random, line, Angle(drift, fromRow + r));
                    data.Write(line);
                    data.Write('\n');
                    truth.Write(p.ToString("R", CultureInfo.InvariantCulture));
                    truth.Write('\n');
                    pairs.Add((p, line[0] == '1' ? 1 : 0));
                }
            }

            File.Move(temporaryTruth, truthPath, overwrite: true);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
            File.Delete(temporaryTruth);
        }

        return new Summary(rows, pairs.Count(p => p.Label == 1), BinaryMetrics.Auc(pairs), BinaryMetrics.LogLoss(pairs));
    }

    /// <summary>The drift angle of timeline row <paramref name="row"/> (0 without drift).</summary>
    public static double Angle(double drift, long row) => drift == 0 ? 0 : drift * (Math.PI / 2) * row / DriftRows;

    /// <summary>The hidden model's probabilities for rows [first, first + count) of a generated
    /// file, or null when the file has no truth beside it (data not made by gen-data).</summary>
    public static double[]? ReadTruth(string dataPath, long first, long count)
    {
        var truthPath = dataPath + TruthSuffix;
        if (!File.Exists(truthPath))
        {
            return null;
        }

        var values = File.ReadLines(truthPath).Skip((int)first).Take((int)count)
            .Select(l => double.Parse(l, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        return values.Length == count ? values : null;
    }
}
