using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;

namespace Appliance.Core.Training;

/// <summary>
/// Labelled Criteo rows as the trainer consumes them: per row the 26 table rows (−1 where the key
/// is not in the table: a zero vector, as the engine treats a missing key), 13 normalised dense
/// values and the label — about 160 bytes a row, the text and the keys are not kept. Features are
/// computed exactly as the engine computes them (<see cref="CriteoSample"/>,
/// <see cref="DenseNormalizer"/>, <see cref="FeatureHasher"/>).
/// </summary>
internal sealed class EncodedSamples
{
    private const int Slots = CriteoSample.SparseCount;
    private const int Width = CriteoSample.DenseCount;

    public EncodedSamples(int count)
    {
        Count = count;
        Rows = new int[count * Slots];
        Dense = new float[count * Width];
        Labels = new byte[count];
    }

    public int Count { get; }

    /// <summary>[Count × 26] table row per slot, −1 for a key the table lacks.</summary>
    public int[] Rows { get; }

    /// <summary>[Count × 13] normalised dense values.</summary>
    public float[] Dense { get; }

    public byte[] Labels { get; }

    /// <summary>
    /// Parses and hashes <paramref name="lines"/> (in parallel) into rows
    /// [<paramref name="offset"/>, offset + lines.Count). With <paramref name="addKeys"/> (training
    /// rows) new keys get table rows; otherwise (held-out rows) an unknown key is −1. Throws
    /// <see cref="InputFormatException"/> naming the file and line of the first bad or unlabelled row.
    /// </summary>
    public void Fill(int offset, IReadOnlyList<string> lines, string path, long firstLineNumber, HashScheme scheme, DenseNormalizer normalizer, EmbeddingTable table, bool addKeys)
    {
        var n = lines.Count;
        var keys = new ulong[n * Slots];
        var errors = new InputFormatException?[n];
        Parallel.For(0, n, i =>
        {
            CriteoSample sample;
            try
            {
                sample = CriteoSample.Parse(lines[i]);
            }
            catch (FormatException e)
            {
                errors[i] = InputFormatException.AtLine(path, firstLineNumber + i, e.Message);
                return;
            }

            if (sample.Label is not { } label)
            {
                errors[i] = InputFormatException.AtLine(path, firstLineNumber + i, "no label: training needs 40-field lines (label, I1..I13, C1..C26)");
                return;
            }

            Labels[offset + i] = (byte)label;
            normalizer.Normalize(sample.Dense, Dense.AsSpan((offset + i) * Width, Width));
            for (var s = 0; s < Slots; s++)
            {
                keys[(i * Slots) + s] = FeatureHasher.Key(scheme, s, sample.Sparse[s]);
            }
        });

        if (errors.FirstOrDefault(e => e is not null) is { } first)
        {
            throw first;
        }

        // Table rows are assigned in file order (one thread), so a run is reproducible.
        var rows = Rows.AsSpan(offset * Slots, n * Slots);
        for (var i = 0; i < keys.Length; i++)
        {
            rows[i] = addKeys ? table.GetOrAdd(keys[i]) : table.Find(keys[i]);
        }
    }
}
