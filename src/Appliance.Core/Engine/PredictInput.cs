using System.Buffers;

namespace Appliance.Core.Engine;

/// <summary>
/// A <c>POST /predict</c> request as the engine takes it: its samples, lines and structured
/// samples alike (lines first), and the variant it asks for. Lines read by the one-pass reader
/// (<see cref="LinesReader"/>) are slices of one pooled buffer, not a string each — the strings
/// were 13 KB of garbage per 32-line request — and that buffer goes back to the pool on
/// <see cref="Dispose"/>. So the request must be answered, its network run finished, before it is
/// disposed: the /predict handler scores it without the client's cancellation for that reason.
/// </summary>
internal sealed class PredictInput : IDisposable
{
    private char[]? _pooled;

    internal PredictInput(IReadOnlyList<EngineSample> samples, string? variant, char[]? pooled)
    {
        Samples = samples;
        Variant = variant;
        _pooled = pooled;
    }

    public IReadOnlyList<EngineSample> Samples { get; }

    /// <summary>A model variant by name; null: chosen by weight.</summary>
    public string? Variant { get; }

    /// <summary>The lines as strings (tests and tools; the engine reads the slices).</summary>
    public IReadOnlyList<string> Lines() => [.. Samples.Select(s => s.Line.ToString())];

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _pooled, null) is { } pooled)
        {
            ArrayPool<char>.Shared.Return(pooled);
        }
    }
}
