namespace Appliance.Core.Training;

/// <summary>Standard normal samples (Box–Muller) from a seeded <see cref="Random"/>, so generated
/// data and initial weights are reproducible.</summary>
internal static class Gaussian
{
    public static double Next(Random random)
    {
        var u1 = 1.0 - random.NextDouble(); // (0, 1]: log is finite
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
