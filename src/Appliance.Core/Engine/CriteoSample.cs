using System.Globalization;

namespace Appliance.Core.Engine;

/// <summary>
/// One Criteo-format sample (reference/ctr.md §1.1): TAB-separated, 40 fields with a leading label
/// or 39 without; I1..I13 integer counts, C1..C26 categorical tokens; any field may be empty.
/// </summary>
public sealed class CriteoSample
{
    public const int DenseCount = 13;
    public const int SparseCount = 26;

    private CriteoSample(int? label, double?[] dense, string[] sparse)
    {
        Label = label;
        Dense = dense;
        Sparse = sparse;
    }

    /// <summary>0 or 1 for a labelled line, null for an unlabelled one.</summary>
    public int? Label { get; }

    /// <summary>I1..I13; null where the field is empty.</summary>
    public IReadOnlyList<double?> Dense { get; }

    /// <summary>C1..C26 tokens as given (possibly empty).</summary>
    public IReadOnlyList<string> Sparse { get; }

    /// <summary>Parses one line; throws <see cref="FormatException"/> naming the field at fault.</summary>
    public static CriteoSample Parse(ReadOnlySpan<char> line)
    {
        var dense = new double?[DenseCount];
        Span<Range> tokens = stackalloc Range[SparseCount];
        var label = Read(line, dense, tokens, out var trimmed);
        var sparse = new string[SparseCount];
        for (var s = 0; s < SparseCount; s++)
        {
            sparse[s] = trimmed[tokens[s]].ToString();
        }

        return new CriteoSample(label, dense, sparse);
    }

    /// <summary>
    /// The format's one reader: the label (null when unlabelled), I1..I13 into
    /// <paramref name="dense"/> (null where empty), and where C1..C26 lie in
    /// <paramref name="trimmed"/> (the line without its line ending) — no string is made, so the
    /// engine can hash the tokens where they are. Throws <see cref="FormatException"/> naming the
    /// field at fault.
    /// </summary>
    public static int? Read(ReadOnlySpan<char> line, scoped Span<double?> dense, scoped Span<Range> sparse, out ReadOnlySpan<char> trimmed)
    {
        line = line.TrimEnd("\r\n");
        trimmed = line;
        var fields = line.Count('\t') + 1;
        if (fields is not (39 or 40))
        {
            throw new FormatException($"{fields} fields; a Criteo sample has 40 (label, I1..I13, C1..C26) or 39 (no label)");
        }

        int? label = null;
        var index = 0;
        foreach (var range in line.Split('\t'))
        {
            var field = line[range];
            var position = fields == 40 ? index - 1 : index;
            if (position < 0)
            {
                label = field switch
                {
                    "0" => 0,
                    "1" => 1,
                    _ => throw new FormatException($"label '{field}' is not 0 or 1"),
                };
            }
            else if (position < DenseCount)
            {
                dense[position] = field.IsEmpty ? null
                    : double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x
                    : throw new FormatException($"I{position + 1} = '{field}' is not a number");
            }
            else
            {
                sparse[position - DenseCount] = range;
            }

            index++;
        }

        return label;
    }
}
