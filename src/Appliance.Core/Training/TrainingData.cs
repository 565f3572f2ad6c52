using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;

namespace Appliance.Core.Training;

/// <summary>
/// A labelled Criteo file split for training: the first rows train, the last
/// ⌈holdout × rows⌉ are held out (as the original split train.txt by line index), so anyone can
/// recompute the split from the file alone. The file is streamed in chunks (rows are counted
/// first), so only the encoded rows and the held-out lines' text stay in memory: the full Criteo
/// set (45M rows, 11 GB of text) fits in about 9 GB.
/// </summary>
internal sealed class TrainingData
{
    private const int ChunkRows = 1 << 16;

    private TrainingData(string path, EncodedSamples train, EncodedSamples heldOut, string[] heldOutLines)
    {
        Path = path;
        Train = train;
        HeldOut = heldOut;
        HeldOutLines = heldOutLines;
    }

    public string Path { get; }

    public EncodedSamples Train { get; }

    public EncodedSamples HeldOut { get; }

    /// <summary>The held-out rows as text (written beside the exports for checking a deployment).</summary>
    public string[] HeldOutLines { get; }

    public static int HeldOutCount(int rows, double holdout) => holdout <= 0 ? 0 : Math.Min(rows - 1, (int)Math.Ceiling(rows * holdout));

    /// <summary>Reads and encodes the file; training rows' new keys are added to
    /// <paramref name="table"/>, held-out rows only look theirs up (they come last in the file).</summary>
    public static TrainingData Load(string path, double holdout, HashScheme hash, EmbeddingTable table)
    {
        var rows = CountRows(path);
        if (rows < 2)
        {
            throw InputFormatException.AtLine(path, rows, $"{rows} row(s); training needs at least 2");
        }

        var heldOut = HeldOutCount(rows, holdout);
        return Read(path, rows, rows - heldOut, hash, table);
    }

    /// <summary>Every row of the file as held-out data (evaluation only: no key is added).</summary>
    public static TrainingData LoadEvaluation(string path, HashScheme hash, EmbeddingTable table) =>
        Read(path, CountRows(path), 0, hash, table);

    private static TrainingData Read(string path, int rows, int trainRows, HashScheme hash, EmbeddingTable table)
    {
        var train = new EncodedSamples(trainRows);
        var heldOut = new EncodedSamples(rows - trainRows);
        var heldOutLines = new string[rows - trainRows];
        var chunk = new List<string>(ChunkRows);
        using var reader = Open(path);
        var row = 0;
        while (row < rows)
        {
            // A chunk never straddles the train / held-out boundary.
            var end = Math.Min(row + ChunkRows, row < trainRows ? trainRows : rows);
            chunk.Clear();
            while (chunk.Count < end - row && reader.ReadLine() is { } line)
            {
                chunk.Add(line);
            }

            if (chunk.Count < end - row)
            {
                throw InputFormatException.AtLine(path, row + chunk.Count, "the file shrank while it was read");
            }

            if (row < trainRows)
            {
                train.Fill(row, chunk, path, row + 1, hash, DenseNormalizer.Criteo, table, addKeys: true);
            }
            else
            {
                heldOut.Fill(row - trainRows, chunk, path, row + 1, hash, DenseNormalizer.Criteo, table, addKeys: false);
                chunk.CopyTo(heldOutLines, row - trainRows);
            }

            row = end;
        }

        return new TrainingData(path, train, heldOut, heldOutLines);
    }

    /// <summary>Lines in the file (a last line without a newline counts; a final newline does not
    /// start another row).</summary>
    private static int CountRows(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var buffer = new byte[1 << 20];
            long lines = 0;
            var last = (byte)'\n';
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                lines += buffer.AsSpan(0, read).Count((byte)'\n');
                last = buffer[read - 1];
            }

            lines += last == '\n' ? 0 : 1;
            return lines <= int.MaxValue / CriteoSample.SparseCount ? (int)lines : throw InputFormatException.AtLine(path, lines, $"{lines} rows; one run trains on at most {int.MaxValue / CriteoSample.SparseCount}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtLine(path, 0, $"cannot read: {e.Message}");
        }
    }

    /// <summary>The file as text, or an <see cref="InputFormatException"/> naming it.</summary>
    public static StreamReader Open(string path)
    {
        try
        {
            return new StreamReader(path, new UTF8Encoding(false), false, 1 << 20);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtLine(path, 0, $"cannot read: {e.Message}");
        }
    }
}
