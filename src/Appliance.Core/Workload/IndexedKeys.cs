namespace Appliance.Core.Workload;

/// <summary>
/// The keys of a generated test table as a function of the row number: row i of
/// <c>cube kv gen --key-scheme index</c> holds key <see cref="Of"/>(i). A load generator can then
/// draw any row of a table of billions (uniformly or Zipf-skewed) without a list of its keys.
/// The mix is SplitMix64's finalizer, a bijection on 64 bits: distinct rows, distinct keys, and
/// the keys look random to the shard router and the index hash.
/// </summary>
internal static class IndexedKeys
{
    public static ulong Of(long row)
    {
        var z = (ulong)row + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Spreads ranks over rows: rank r → row (r × a large prime) mod n, a bijection on
    /// [0, n) when n is not a multiple of the prime. Without it the hottest keys would be the first
    /// rows written, packed into the first pages of the values file, and a cache would look
    /// better than it does for real traffic, whose hot keys are scattered.</summary>
    public static long Scatter(long rank, long n) =>
        (ulong)n % Prime == 0 ? rank : (long)(((UInt128)(ulong)rank * Prime) % (ulong)n);

    private const ulong Prime = 2_147_483_647; // 2^31 - 1
}
