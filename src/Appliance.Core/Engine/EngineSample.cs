namespace Appliance.Core.Engine;

/// <summary>
/// One sample to score: a Criteo line (<c>/predict</c>, the predict opcode, OIP <c>BYTES</c>
/// lines) or one row of Open Inference Protocol tensors (<see cref="TensorRows"/>). Both go
/// through the same batching, the same engine and the same model switch, so the same sample
/// scores the same whichever way it came.
/// </summary>
internal readonly struct EngineSample
{
    private EngineSample(ReadOnlyMemory<char> line, TensorRows? rows, int row)
    {
        Line = line;
        Rows = rows;
        Row = row;
    }

    /// <summary>The line (empty for tensor rows). It may lie in a buffer its request owns and
    /// returns when answered (<see cref="PredictInput"/>): never keep it past scoring.</summary>
    public ReadOnlyMemory<char> Line { get; }

    public TensorRows? Rows { get; }

    public int Row { get; }

    public static EngineSample FromLine(string line) => new(line.AsMemory(), null, 0);

    public static EngineSample FromLine(ReadOnlyMemory<char> line) => new(line, null, 0);

    public static EngineSample FromTensors(TensorRows rows, int row) => new(ReadOnlyMemory<char>.Empty, rows, row);

    public static EngineSample[] FromLines(IReadOnlyList<string> lines)
    {
        var samples = new EngineSample[lines.Count];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = FromLine(lines[i]);
        }

        return samples;
    }
}

/// <summary>
/// Samples as OIP tensors, row-major: <see cref="Dense"/> n × 13 raw Criteo values (NaN = missing,
/// normalised by the engine like a line's), and per sparse slot either a token (hashed by the
/// engine with the model's scheme, as a line's are) or a key already hashed by the client.
/// </summary>
internal sealed class TensorRows(int count, float[] dense, string[]? tokens, ulong[]? keys)
{
    public int Count { get; } = count;

    public float[] Dense { get; } = dense;

    public string[]? Tokens { get; } = tokens;

    public ulong[]? Keys { get; } = keys;
}
