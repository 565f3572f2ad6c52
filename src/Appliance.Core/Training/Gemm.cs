using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Appliance.Core.Training;

/// <summary>
/// Dense float32 matrix products for the trainer, all row-major: C[m×n] (+)= A[m×k] · B[k×n].
/// The kernel keeps a 4-row × 16-column block of C in eight AVX registers and streams A and B
/// through them once per k, which is what makes a 64-sample minibatch through 400-wide layers
/// cheap enough to train on two cores. Transposed operands are made explicit with
/// <see cref="Transpose"/> (its cost is 1/m of the product's).
/// </summary>
internal static class Gemm
{
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, bool accumulate)
    {
        if (a.Length < m * k || b.Length < k * n || c.Length < m * n)
        {
            throw new ArgumentException($"operands too small for [{m}×{k}]·[{k}×{n}]");
        }

        if (!accumulate)
        {
            c[..(m * n)].Clear();
        }

        ref var a0 = ref MemoryMarshal.GetReference(a);
        ref var b0 = ref MemoryMarshal.GetReference(b);
        ref var c0 = ref MemoryMarshal.GetReference(c);
        var i = 0;
        for (; i + 4 <= m; i += 4)
        {
            var j = 0;
            if (Fma.IsSupported)
            {
                for (; j + 16 <= n; j += 16)
                {
                    Block4x16(ref a0, ref b0, ref c0, i, j, k, n);
                }
            }

            for (; j < n; j++)
            {
                for (var r = i; r < i + 4; r++)
                {
                    Scalar(ref a0, ref b0, ref c0, r, j, k, n);
                }
            }
        }

        for (; i < m; i++)
        {
            var j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j + 8 <= n; j += 8)
                {
                    var acc = Vector256.LoadUnsafe(ref c0, (nuint)((i * n) + j));
                    for (var p = 0; p < k; p++)
                    {
                        acc += Vector256.Create(Unsafe.Add(ref a0, (i * k) + p)) * Vector256.LoadUnsafe(ref b0, (nuint)((p * n) + j));
                    }

                    acc.StoreUnsafe(ref c0, (nuint)((i * n) + j));
                }
            }

            for (; j < n; j++)
            {
                Scalar(ref a0, ref b0, ref c0, i, j, k, n);
            }
        }
    }

    /// <summary>destination[c×r] = source[r×c]ᵀ.</summary>
    public static void Transpose(ReadOnlySpan<float> source, Span<float> destination, int rows, int columns)
    {
        const int Tile = 16;
        for (var r0 = 0; r0 < rows; r0 += Tile)
        {
            for (var c0 = 0; c0 < columns; c0 += Tile)
            {
                var rEnd = Math.Min(r0 + Tile, rows);
                var cEnd = Math.Min(c0 + Tile, columns);
                for (var r = r0; r < rEnd; r++)
                {
                    for (var c = c0; c < cEnd; c++)
                    {
                        destination[(c * rows) + r] = source[(r * columns) + c];
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scalar(ref float a0, ref float b0, ref float c0, int i, int j, int k, int n)
    {
        var sum = Unsafe.Add(ref c0, (i * n) + j);
        for (var p = 0; p < k; p++)
        {
            sum += Unsafe.Add(ref a0, (i * k) + p) * Unsafe.Add(ref b0, (p * n) + j);
        }

        Unsafe.Add(ref c0, (i * n) + j) = sum;
    }

    private static void Block4x16(ref float a0, ref float b0, ref float c0, int i, int j, int k, int n)
    {
        ref var c = ref Unsafe.Add(ref c0, (i * n) + j);
        var c00 = Vector256.LoadUnsafe(ref c);
        var c01 = Vector256.LoadUnsafe(ref c, 8);
        var c10 = Vector256.LoadUnsafe(ref c, (nuint)n);
        var c11 = Vector256.LoadUnsafe(ref c, (nuint)n + 8);
        var c20 = Vector256.LoadUnsafe(ref c, (nuint)(2 * n));
        var c21 = Vector256.LoadUnsafe(ref c, (nuint)(2 * n) + 8);
        var c30 = Vector256.LoadUnsafe(ref c, (nuint)(3 * n));
        var c31 = Vector256.LoadUnsafe(ref c, (nuint)(3 * n) + 8);
        ref var a = ref Unsafe.Add(ref a0, i * k);
        ref var b = ref Unsafe.Add(ref b0, j);
        for (var p = 0; p < k; p++)
        {
            var b0v = Vector256.LoadUnsafe(ref b, (nuint)(p * n));
            var b1v = Vector256.LoadUnsafe(ref b, (nuint)(p * n) + 8);
            var x0 = Vector256.Create(Unsafe.Add(ref a, p));
            var x1 = Vector256.Create(Unsafe.Add(ref a, k + p));
            var x2 = Vector256.Create(Unsafe.Add(ref a, (2 * k) + p));
            var x3 = Vector256.Create(Unsafe.Add(ref a, (3 * k) + p));
            c00 = Fma.MultiplyAdd(x0, b0v, c00);
            c01 = Fma.MultiplyAdd(x0, b1v, c01);
            c10 = Fma.MultiplyAdd(x1, b0v, c10);
            c11 = Fma.MultiplyAdd(x1, b1v, c11);
            c20 = Fma.MultiplyAdd(x2, b0v, c20);
            c21 = Fma.MultiplyAdd(x2, b1v, c21);
            c30 = Fma.MultiplyAdd(x3, b0v, c30);
            c31 = Fma.MultiplyAdd(x3, b1v, c31);
        }

        c00.StoreUnsafe(ref c);
        c01.StoreUnsafe(ref c, 8);
        c10.StoreUnsafe(ref c, (nuint)n);
        c11.StoreUnsafe(ref c, (nuint)n + 8);
        c20.StoreUnsafe(ref c, (nuint)(2 * n));
        c21.StoreUnsafe(ref c, (nuint)(2 * n) + 8);
        c30.StoreUnsafe(ref c, (nuint)(3 * n));
        c31.StoreUnsafe(ref c, (nuint)(3 * n) + 8);
    }
}
