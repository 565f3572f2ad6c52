using Appliance.Core.Training;

namespace Appliance.Core.Tests.Training;

/// <summary>The blocked AVX kernel against the textbook triple loop, for shapes that hit every
/// path: full 4×16 blocks, leftover rows, leftover columns, 1-wide and 2-wide outputs.</summary>
public sealed class GemmTests
{
    [Theory]
    [InlineData(64, 273, 400)]
    [InlineData(5, 7, 17)]
    [InlineData(3, 10, 2)]
    [InlineData(1, 1, 1)]
    [InlineData(9, 33, 40)]
    public void MultiplyEqualsTheNaiveProduct(int m, int k, int n)
    {
        var random = new Random(m * 1000 + n);
        var a = Enumerable.Range(0, m * k).Select(_ => random.NextSingle() - 0.5f).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => random.NextSingle() - 0.5f).ToArray();
        var c = Enumerable.Range(0, m * n).Select(_ => random.NextSingle()).ToArray();
        var initial = (float[])c.Clone();

        Gemm.Multiply(a, b, c, m, k, n, accumulate: true);

        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double expected = initial[(i * n) + j];
                for (var p = 0; p < k; p++)
                {
                    expected += a[(i * k) + p] * (double)b[(p * n) + j];
                }

                Assert.True(Math.Abs(expected - c[(i * n) + j]) < 1e-4, $"C[{i},{j}] = {c[(i * n) + j]}, expected {expected}");
            }
        }

        Gemm.Multiply(a, b, c, m, k, n, accumulate: false);
        Gemm.Multiply(a, b, initial, m, k, n, accumulate: false);
        Assert.Equal(initial, c);
    }

    [Fact]
    public void TransposeSwapsRowsAndColumns()
    {
        var source = Enumerable.Range(0, 3 * 37).Select(i => (float)i).ToArray();
        var destination = new float[source.Length];
        Gemm.Transpose(source, destination, 3, 37);
        for (var r = 0; r < 3; r++)
        {
            for (var c = 0; c < 37; c++)
            {
                Assert.Equal(source[(r * 37) + c], destination[(c * 3) + r]);
            }
        }
    }

    [Fact]
    public void TooSmallOperandsAreRefused() =>
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[5], new float[6], new float[4], 2, 3, 2, accumulate: false));
}
