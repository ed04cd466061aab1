namespace Fusion.Datasets;

/// <summary>
/// Counter-based randomness (SplitMix64): every draw is a pure function of (seed, coordinates), so a choice can be
/// recomputed anywhere — a resumed run continues the same sequence, and results do not depend on .NET's Random.
/// </summary>
public static class SeededRandom
{
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static ulong Hash(long seed, params ReadOnlySpan<long> coordinates)
    {
        var h = Mix((ulong)seed);
        foreach (var c in coordinates) h = Mix(h ^ (ulong)c);
        return h;
    }

    /// <summary>Uniform integer in [0, n) from (seed, coordinates) (Lemire's multiply-shift; bias below 2⁻³²).</summary>
    public static int Index(int n, long seed, params ReadOnlySpan<long> coordinates)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "need at least one choice");
        return (int)(((UInt128)Hash(seed, coordinates) * (ulong)n) >> 64);
    }

    /// <summary>A seeded <see cref="Random"/>-like stream for generators (xoshiro-free: SplitMix64 over a counter).</summary>
    public sealed class Stream(long seed, params long[] coordinates)
    {
        readonly ulong _base = Hash(seed, coordinates);
        ulong _counter;

        public ulong NextUInt64() => Mix(_base ^ Mix(++_counter));
        public int Next(int n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : (int)(((UInt128)NextUInt64() * (ulong)n) >> 64);
        public int Next(int min, int maxExclusive) => min + Next(maxExclusive - min);
        public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>A permutation of 0..n-1 (Fisher–Yates driven by the stream).</summary>
    public static int[] Permutation(int n, long seed, params long[] coordinates)
    {
        var p = new int[n];
        for (var i = 0; i < n; i++) p[i] = i;
        var s = new Stream(seed, coordinates);
        for (var i = n - 1; i > 0; i--)
        {
            var j = s.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
