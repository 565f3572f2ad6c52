namespace Appliance.Core.Training;

/// <summary>Evaluation metrics of binary scores.</summary>
internal static class BinaryMetrics
{
    /// <summary>Rank-based AUC (Mann–Whitney, tied ranks averaged), as the original client computed it.</summary>
    public static double Auc(IReadOnlyList<(double Score, int Label)> samples)
    {
        var sorted = samples.OrderBy(s => s.Score).ToArray();
        double rankSum = 0;
        long positives = 0;
        for (var i = 0; i < sorted.Length;)
        {
            var j = i;
            while (j < sorted.Length && sorted[j].Score == sorted[i].Score)
            {
                j++;
            }

            var rank = (i + j + 1) / 2.0; // average of ranks i+1 … j
            for (var k = i; k < j; k++)
            {
                if (sorted[k].Label == 1)
                {
                    rankSum += rank;
                    positives++;
                }
            }

            i = j;
        }

        var negatives = sorted.Length - positives;
        return positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / (positives * (double)negatives);
    }

    public static double LogLoss(IReadOnlyList<(double Score, int Label)> samples) =>
        samples.Average(s =>
        {
            var p = Math.Clamp(s.Score, 1e-7, 1 - 1e-7);
            return -((s.Label * Math.Log(p)) + ((1 - s.Label) * Math.Log(1 - p)));
        });
}
