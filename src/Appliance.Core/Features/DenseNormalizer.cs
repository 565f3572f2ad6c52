namespace Appliance.Core.Features;

/// <summary>
/// Dense feature normalisation of the CTR-DNN: missing → 0, otherwise
/// (x − min[k]) / diff[k] with no clipping (large counts give values above 1, as in training).
/// </summary>
internal sealed class DenseNormalizer(IReadOnlyList<float> min, IReadOnlyList<float> diff)
{
    public static readonly float[] CriteoMin = [0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    public static readonly float[] CriteoDiff = [20, 603, 100, 50, 64000, 500, 100, 50, 500, 10, 10, 10, 50];

    public static DenseNormalizer Criteo { get; } = new(CriteoMin, CriteoDiff);

    private readonly float[] _min = [.. min];
    private readonly float[] _diff = [.. diff];

    public IReadOnlyList<float> Min => _min;

    public IReadOnlyList<float> Diff => _diff;

    public void Normalize(IReadOnlyList<double?> values, Span<float> destination)
    {
        for (var k = 0; k < values.Count; k++)
        {
            destination[k] = Normalize(k, values[k]);
        }
    }

    public void Normalize(ReadOnlySpan<double?> values, Span<float> destination)
    {
        for (var k = 0; k < values.Length; k++)
        {
            destination[k] = Normalize(k, values[k]);
        }
    }

    private float Normalize(int k, double? value) => value is { } x ? (float)((x - _min[k]) / _diff[k]) : 0f;
}
