using Appliance.Core.Engine;

namespace Appliance.Core.Training;

/// <summary>
/// A labelled Criteo file split for training: the first rows train, the last
/// ⌈holdout × rows⌉ are held out (as the original split train.txt by line index), so anyone can
/// recompute the split from the file alone.
/// </summary>
public sealed class TrainingData
{
    private TrainingData(string path, string[] trainLines, string[] heldOutLines, EncodedSamples train, EncodedSamples heldOut)
    {
        Path = path;
        TrainLines = trainLines;
        HeldOutLines = heldOutLines;
        Train = train;
        HeldOut = heldOut;
    }

    public string Path { get; }

    public string[] TrainLines { get; }

    public string[] HeldOutLines { get; }

    public EncodedSamples Train { get; }

    public EncodedSamples HeldOut { get; }

    public static int HeldOutCount(int rows, double holdout) => holdout <= 0 ? 0 : Math.Min(rows - 1, (int)Math.Ceiling(rows * holdout));

    public static TrainingData Load(string path, double holdout, HashScheme hash)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Formats.InputFormatException.AtLine(path, 0, $"cannot read: {e.Message}");
        }

        // A final empty line (trailing newline) is not a row; any other empty line is an error.
        var count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        if (count < 2)
        {
            throw Formats.InputFormatException.AtLine(path, count, $"{count} row(s); training needs at least 2");
        }

        var heldOut = HeldOutCount(count, holdout);
        var trainLines = lines[..(count - heldOut)];
        var heldOutLines = lines[(count - heldOut)..count];
        return new TrainingData(
            path,
            trainLines,
            heldOutLines,
            EncodedSamples.Parse(trainLines, path, 1, hash, DenseNormalizer.Criteo),
            EncodedSamples.Parse(heldOutLines, path, count - heldOut + 1, hash, DenseNormalizer.Criteo));
    }
}
