namespace Appliance.Core.Workload;

/// <summary>
/// Draws ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s — the skew of real key traffic,
/// for load generators. Rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to
/// generate variates from monotone discrete distributions", 1996): O(1) per draw for any n (no
/// table of n weights, so n may be the whole key space of a table of billions), about one
/// log and one exp per draw, and the expected number of rejections is small for every s &gt; 0.
/// </summary>
internal sealed class ZipfSampler
{
    private readonly double _s;
    private readonly long _n;
    private readonly double _hIntegralX1;
    private readonly double _hIntegralN;
    private readonly double _threshold;

    public ZipfSampler(long n, double exponent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (!(exponent > 0) || double.IsInfinity(exponent))
        {
            throw new ArgumentOutOfRangeException(nameof(exponent), exponent, "a Zipf exponent is a finite number > 0");
        }

        (_n, _s) = (n, exponent);
        _hIntegralX1 = HIntegral(1.5) - 1;
        _hIntegralN = HIntegral(n + 0.5);
        _threshold = 2 - HIntegralInverse(HIntegral(2.5) - H(2));
    }

    public long Count => _n;

    public double Exponent => _s;

    /// <summary>A rank in [0, n); <paramref name="uniform"/> gives doubles in [0, 1).</summary>
    public long Next(Func<double> uniform)
    {
        while (true)
        {
            var u = _hIntegralN + (uniform() * (_hIntegralX1 - _hIntegralN));
            var x = HIntegralInverse(u);
            var k = (long)(x + 0.5);
            k = Math.Clamp(k, 1, _n);
            if (k - x <= _threshold || u >= HIntegral(k + 0.5) - H(k))
            {
                return k - 1;
            }
        }
    }

    /// <summary>h(x) = x^-s, the unnormalised weight.</summary>
    private double H(double x) => Math.Exp(-_s * Math.Log(x));

    /// <summary>An antiderivative of h: (x^(1-s) - 1) / (1 - s), or log x for s = 1, computed
    /// without cancellation near s = 1.</summary>
    private double HIntegral(double x)
    {
        var logX = Math.Log(x);
        return ExpM1OverX((1 - _s) * logX) * logX;
    }

    private double HIntegralInverse(double x)
    {
        var t = x * (1 - _s);
        if (t < -1)
        {
            t = -1; // rounding near the lower end; the true value is >= -1
        }

        return Math.Exp(Log1POverX(t) * x);
    }

    /// <summary>log(1 + x) / x, continuous at 0.</summary>
    private static double Log1POverX(double x) =>
        Math.Abs(x) > 1e-8 ? double.LogP1(x) / x : 1 - (x * (0.5 - (x * ((1.0 / 3) - (0.25 * x)))));

    /// <summary>(e^x - 1) / x, continuous at 0.</summary>
    private static double ExpM1OverX(double x) =>
        Math.Abs(x) > 1e-8 ? double.ExpM1(x) / x : 1 + (x * 0.5 * (1 + (x / 3 * (1 + (0.25 * x)))));
}
