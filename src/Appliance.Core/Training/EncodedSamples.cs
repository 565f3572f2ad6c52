using Appliance.Core.Engine;
using Appliance.Core.Formats;

namespace Appliance.Core.Training;

/// <summary>
/// Labelled Criteo rows as the trainer consumes them: per row the 26 table rows (−1 where the key
/// is not in the table: a zero vector, as the engine treats a missing key), 13 normalised dense
/// values and the label. Features are computed exactly as the engine computes them
/// (<see cref="CriteoSample"/>, <see cref="DenseNormalizer"/>, <see cref="FeatureHasher"/>).
/// </summary>
public sealed class EncodedSamples
{
    private EncodedSamples(int count, int[] rows, float[] dense, byte[] labels, ulong[] keys)
    {
        Count = count;
        Rows = rows;
        Dense = dense;
        Labels = labels;
        Keys = keys;
    }

    public int Count { get; }

    /// <summary>[Count × 26] table row per slot, −1 for a key the table lacks.</summary>
    public int[] Rows { get; }

    /// <summary>[Count × 13] normalised dense values.</summary>
    public float[] Dense { get; }

    public byte[] Labels { get; }

    /// <summary>[Count × 26] the keys themselves.</summary>
    public ulong[] Keys { get; }

    /// <summary>Parses and hashes lines (in parallel). Throws <see cref="InputFormatException"/>
    /// naming the file and line of the first bad or unlabelled row.</summary>
    public static EncodedSamples Parse(IReadOnlyList<string> lines, string path, long firstLineNumber, HashScheme scheme, DenseNormalizer normalizer)
    {
        const int Slots = CriteoSample.SparseCount, Width = CriteoSample.DenseCount;
        var n = lines.Count;
        var keys = new ulong[n * Slots];
        var dense = new float[n * Width];
        var labels = new byte[n];
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

            labels[i] = (byte)label;
            normalizer.Normalize(sample.Dense, dense.AsSpan(i * Width, Width));
            for (var s = 0; s < Slots; s++)
            {
                keys[(i * Slots) + s] = FeatureHasher.Key(scheme, s, sample.Sparse[s]);
            }
        });

        if (errors.FirstOrDefault(e => e is not null) is { } first)
        {
            throw first;
        }

        return new EncodedSamples(n, new int[n * Slots], dense, labels, keys);
    }

    /// <summary>Points every slot at its table row, adding rows for new keys (training data).</summary>
    public void AddTo(EmbeddingTable table)
    {
        for (var i = 0; i < Keys.Length; i++)
        {
            Rows[i] = table.GetOrAdd(Keys[i]);
        }
    }

    /// <summary>Points every slot at its table row, −1 where the table lacks the key (held-out data).</summary>
    public void LookUpIn(EmbeddingTable table)
    {
        for (var i = 0; i < Keys.Length; i++)
        {
            Rows[i] = table.Find(Keys[i]);
        }
    }
}
