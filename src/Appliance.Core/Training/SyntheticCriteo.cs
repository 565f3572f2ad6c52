using System.Globalization;
using System.Text;
using Appliance.Core.Engine;
using Appliance.Core.Features;

namespace Appliance.Core.Training;

/// <summary>
/// A hidden click model and a sampler of Criteo-format rows from it (<c>cube gen-data</c>). Because
/// the generator knows P(click) of every row it writes, the best AUC any model can reach on those
/// rows is known, and a trained model can be judged against it.
/// <para>The model is what CTR data looks like to a DNN: a bias; per-slot token effects (26 slots,
/// vocabularies of 4 to 20 000 tokens drawn with Zipf-like skew, some slots uninformative); a
/// saturating effect of each integer field (with its own effect when missing); and two pairwise
/// slot interactions (dot products of small latent vectors), which a linear model cannot fit.</para>
/// <para>With drift (<c>cube gen-data --drift</c>) the token effects move with time: a row at angle
/// θ sees w₀·cos θ + w₁·sin θ, where w₁ is a second, independent set of effects of the same spread
/// (so a token's effect at θ = π/2 is unrelated to where it started, and the CTR stays about the
/// same). Popularity, the integer fields and the interactions stay put: what a newer table can
/// learn that an older one cannot is each token's current effect — the rows a patch carries.</para>
/// <para>Integer fields follow log-normal counts scaled to the CTR-DNN's normalisation ranges, with
/// Criteo's missing rates; tokens are 8 lowercase hex digits, and a few slots are sometimes empty.</para>
/// </summary>
internal sealed class SyntheticCriteo
{
    // Criteo's per-field missing rates, roughly (I1..I13).
    private static readonly double[] DenseMissing = [0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22];

    private static readonly int[] VocabularySizes =
    [
        1000, 500, 20000, 8000, 200, 20, 5000, 500, 4, 3000, 4000, 15000, 3000, 25, 4000, 12000, 10, 2500, 1500, 4, 15000, 12, 100, 8000, 50, 6000,
    ];

    private static readonly (int A, int B)[] Pairs = [(5, 13), (8, 16)];
    private const int LatentDim = 4;
    private const double ZipfExponent = 1.15;

    private readonly double[][] _tokenWeight;
    private readonly double[][] _driftedWeight; // w₁: where the effects drift to
    private readonly string[][] _tokens;
    private readonly double[][] _cdf;
    private readonly double[] _emptyRate;
    private readonly double[] _denseWeight;
    private readonly double[] _missingWeight;
    private readonly double[][][] _latent; // [pair side][token][LatentDim], sides 2p and 2p+1
    private readonly double _bias;

    public SyntheticCriteo(int seed)
    {
        var random = new Random(seed);
        var slots = CriteoSample.SparseCount;
        _tokenWeight = new double[slots][];
        _tokens = new string[slots][];
        _cdf = new double[slots][];
        _emptyRate = new double[slots];
        var sigmas = new double[slots];
        for (var s = 0; s < slots; s++)
        {
            var size = VocabularySizes[s];
            // A third of the slots carry no signal; the others differ in strength.
            var sigma = s % 3 == 2 ? 0.0 : 0.25 + (0.5 * random.NextDouble());
            sigmas[s] = sigma;
            // Rare tokens move P(click) less than common ones (rank r: σ / √(1 + r/50)), as in
            // real logs, where the long tail mostly behaves like the average.
            _tokenWeight[s] = Enumerable.Range(0, size).Select(r => sigma * Gaussian.Next(random) / Math.Sqrt(1 + (r / 50.0))).ToArray();
            var hex = new HashSet<string>(StringComparer.Ordinal);
            _tokens[s] = new string[size];
            for (var i = 0; i < size; i++)
            {
                string token;
                do
                {
                    token = ((uint)random.NextInt64(0, 1L << 32)).ToString("x8", CultureInfo.InvariantCulture);
                }
                while (!hex.Add(token));
                _tokens[s][i] = token;
            }

            _cdf[s] = ZipfCdf(size);
            _emptyRate[s] = s % 7 == 3 ? 0.3 : 0.0;
        }

        // Drawn from a generator of their own, after everything else: data without drift is the
        // same as before drift existed, row for row.
        var drift = new Random(seed ^ 0x0d71f7);
        _driftedWeight = new double[slots][];
        for (var s = 0; s < slots; s++)
        {
            _driftedWeight[s] = Enumerable.Range(0, VocabularySizes[s]).Select(r => sigmas[s] * Gaussian.Next(drift) / Math.Sqrt(1 + (r / 50.0))).ToArray();
        }

        _denseWeight = Enumerable.Range(0, CriteoSample.DenseCount).Select(_ => Gaussian.Next(random) * 0.6).ToArray();
        _missingWeight = Enumerable.Range(0, CriteoSample.DenseCount).Select(_ => Gaussian.Next(random) * 0.2).ToArray();
        _latent = new double[Pairs.Length * 2][][];
        for (var p = 0; p < Pairs.Length; p++)
        {
            _latent[2 * p] = Latent(random, VocabularySizes[Pairs[p].A]);
            _latent[(2 * p) + 1] = Latent(random, VocabularySizes[Pairs[p].B]);
        }

        // Choose the bias so that about a quarter of rows are clicks, as in Criteo.
        var rows = new Random(seed ^ 0x5eed);
        var logits = Enumerable.Range(0, 4000).Select(_ => Draw(rows, null, 1, 0).Logit).ToArray();
        double lo = -10, hi = 10;
        for (var iteration = 0; iteration < 60; iteration++)
        {
            var mid = (lo + hi) / 2;
            var ctr = logits.Average(l => Sigmoid(l + mid));
            (lo, hi) = ctr < 0.25 ? (mid, hi) : (lo, mid);
        }

        _bias = (lo + hi) / 2;
    }

    /// <summary>Appends one labelled row (no newline) to <paramref name="line"/> and returns the
    /// probability of a click the hidden model gave it, with the token effects drifted to
    /// <paramref name="angle"/> (radians; 0: the undrifted model).</summary>
    public double Sample(Random random, StringBuilder line, double angle = 0)
    {
        var (logit, fields) = Draw(random, line, Math.Cos(angle), Math.Sin(angle));
        var p = Sigmoid(logit + _bias);
        var label = random.NextDouble() < p ? 1 : 0;
        line.Insert(fields, label == 1 ? "1\t" : "0\t");
        return p;
    }

    private (double Logit, int Start) Draw(Random random, StringBuilder? line, double cos, double sin)
    {
        var start = line?.Length ?? 0;
        double logit = 0;
        for (var k = 0; k < CriteoSample.DenseCount; k++)
        {
            if (random.NextDouble() < DenseMissing[k])
            {
                logit += _missingWeight[k];
                line?.Append('\t');
                continue;
            }

            // Log-normal counts centred well inside the normalisation range (diff), with long tails.
            var diff = DenseNormalizer.CriteoDiff[k];
            var value = Math.Floor(Math.Exp(Math.Log(diff / 6.0) + (1.1 * Gaussian.Next(random))));
            if (k == 1 && random.NextDouble() < 0.1)
            {
                value = -1; // I2 is the one field with small negative values
            }

            var normalised = (value - DenseNormalizer.CriteoMin[k]) / diff;
            logit += _denseWeight[k] * Math.Tanh(2 * normalised);
            line?.Append(value.ToString(CultureInfo.InvariantCulture)).Append('\t');
        }

        Span<int> chosen = stackalloc int[CriteoSample.SparseCount];
        for (var s = 0; s < CriteoSample.SparseCount; s++)
        {
            if (random.NextDouble() < _emptyRate[s])
            {
                chosen[s] = -1;
            }
            else
            {
                var i = Array.BinarySearch(_cdf[s], random.NextDouble());
                chosen[s] = Math.Min(i < 0 ? ~i : i, _cdf[s].Length - 1);
                // sin == 0 adds exactly 0: undrifted rows are bit for bit what they always were.
                logit += (cos * _tokenWeight[s][chosen[s]]) + (sin * _driftedWeight[s][chosen[s]]);
                line?.Append(_tokens[s][chosen[s]]);
            }

            if (s + 1 < CriteoSample.SparseCount)
            {
                line?.Append('\t');
            }
        }

        for (var p = 0; p < Pairs.Length; p++)
        {
            var (a, b) = (chosen[Pairs[p].A], chosen[Pairs[p].B]);
            if (a >= 0 && b >= 0)
            {
                var u = _latent[2 * p][a];
                var v = _latent[(2 * p) + 1][b];
                for (var d = 0; d < LatentDim; d++)
                {
                    logit += u[d] * v[d];
                }
            }
        }

        return (logit, start);
    }

    private static double[] ZipfCdf(int size)
    {
        var cdf = new double[size];
        double sum = 0;
        for (var i = 0; i < size; i++)
        {
            sum += 1.0 / Math.Pow(i + 1, ZipfExponent);
            cdf[i] = sum;
        }

        for (var i = 0; i < size; i++)
        {
            cdf[i] /= sum;
        }

        return cdf;
    }

    private static double[][] Latent(Random random, int size) =>
        Enumerable.Range(0, size).Select(_ => Enumerable.Range(0, LatentDim).Select(_ => 0.6 * Gaussian.Next(random)).ToArray()).ToArray();

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}
