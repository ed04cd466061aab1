namespace Fusion.Reproduction.Statistics;

/// <summary>
/// Deterministic bootstrap resampling: replicate r draws n indices with replacement from a SplitMix64 stream seeded
/// by (seed, r), so the same (seed, n) gives the same index sets on every machine and in every stage. Two variants
/// evaluated on the same captions in the same order are therefore resampled identically, and the difference of
/// their replicates is a paired bootstrap of the difference.
/// </summary>
public static class Bootstrap
{
    public const int DefaultResamples = 200;
    public const long DefaultSeed = 20240325;

    /// <summary>Indices of replicate <paramref name="replicate"/>: n draws from [0, n).</summary>
    public static int[] Indices(int n, long seed, int replicate)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "a bootstrap needs at least one sample");
        var state = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)replicate * 0xD1B54A32D192ED03UL;
        var indices = new int[n];
        for (var i = 0; i < n; i++) indices[i] = (int)(Next(ref state) % (ulong)n); // modulo bias ≤ n/2^64: negligible
        return indices;
    }

    /// <summary>Counts per sample of replicate r (how often each index was drawn): a statistic's weights.</summary>
    public static int[] Counts(int n, long seed, int replicate)
    {
        var counts = new int[n];
        foreach (var i in Indices(n, seed, replicate)) counts[i]++;
        return counts;
    }

    /// <summary>Replicates of the mean of <paramref name="values"/>.</summary>
    public static double[] Means(IReadOnlyList<double> values, int resamples, long seed)
    {
        var result = new double[resamples];
        for (var r = 0; r < resamples; r++)
        {
            double sum = 0;
            foreach (var i in Indices(values.Count, seed, r)) sum += values[i];
            result[r] = sum / values.Count;
        }
        return result;
    }

    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
