using MathNet.Numerics.Distributions;

namespace Fusion.Reproduction.Statistics;

/// <summary>
/// The report's statistics: Student-t quantiles and intervals (one- and two-sample), medians and percentiles
/// (linear interpolation between order statistics, numpy's default), percentile-bootstrap intervals and the
/// distribution-free order-statistic interval of a median. Every interval is two-sided at <see cref="Level"/>.
/// </summary>
public static class Intervals
{
    public const double Level = 0.95;

    /// <summary>
    /// The p-quantile of Student's t with <paramref name="df"/> degrees of freedom (df may be fractional, as Welch's is):
    /// MathNet.Numerics' t CDF inverted by bisection to 1e-15 relative (a few ulps). Not MathNet's own
    /// <c>StudentT.InvCDF</c>: its root search stops at a CDF residual of 1e-12 (≈ 1e-10 relative in t, where the
    /// report prints intervals whose ends decide verdicts) and only searches |t| ≤ 800.
    /// </summary>
    public static double TQuantile(double p, double df)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "a quantile's probability lies in (0, 1)");
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "degrees of freedom must be positive");
        if (p < 0.5) return -TQuantile(1 - p, df);
        if (p == 0.5) return 0;
        // The CDF is monotone: bracket, then bisect to a few ulps.
        double lo = 0, hi = 1;
        while (StudentT.CDF(0, 1, df, hi) < p) { lo = hi; hi *= 2; }
        for (var i = 0; i < 200 && hi - lo > 1e-15 * hi; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (StudentT.CDF(0, 1, df, mid) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>Mean with its two-sided t-interval at <paramref name="level"/>; one value has no interval.</summary>
    public static Interval TInterval(IReadOnlyList<double> values, string unit, double level = Level)
    {
        if (values.Count == 0) throw new ArgumentException("no values");
        var mean = values.Average();
        if (values.Count == 1) return Interval.Point(mean, 1, $"1 {unit}, no interval");
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        var half = TQuantile(0.5 + level / 2, values.Count - 1) * sd / Math.Sqrt(values.Count);
        return new Interval(mean, mean - half, mean + half, values.Count, $"mean, {LevelText(level)}t-interval over {values.Count} {unit}s");
    }

    /// <summary>Difference of means a − b with Welch's t-interval (unpaired samples of unequal variance).</summary>
    public static Interval WelchInterval(IReadOnlyList<double> a, IReadOnlyList<double> b, string unit, double level = Level)
    {
        if (a.Count < 2 || b.Count < 2) throw new ArgumentException($"Welch's interval needs two or more values on each side (got {a.Count} and {b.Count})");
        double Var(IReadOnlyList<double> x) { var m = x.Average(); return x.Sum(v => (v - m) * (v - m)) / (x.Count - 1); }
        var (va, vb) = (Var(a) / a.Count, Var(b) / b.Count);
        var se = Math.Sqrt(va + vb);
        var df = (va + vb) * (va + vb) / (va * va / (a.Count - 1) + vb * vb / (b.Count - 1));
        var diff = a.Average() - b.Average();
        // Identical constant samples: no spread, so the interval is the point itself.
        var half = se == 0 ? 0 : TQuantile(0.5 + level / 2, df) * se;
        return new Interval(diff, diff - half, diff + half, Math.Min(a.Count, b.Count), $"difference of means, {LevelText(level)}Welch t-interval over {a.Count} and {b.Count} {unit}s (unpaired)");
    }

    /// <summary>"" at the report's usual 95 %, else "99.2 % " (a sequential look's level), so every interval names a level that is not the default.</summary>
    public static string LevelText(double level) =>
        level == Level ? "" : (100 * level).ToString("0.0##", System.Globalization.CultureInfo.InvariantCulture) + " % ";

    /// <summary>The q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics.</summary>
    public static double Percentile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) throw new ArgumentException("no values");
        var sorted = values.Order().ToArray();
        var pos = q * (sorted.Length - 1);
        var i = (int)Math.Floor(pos);
        return i + 1 < sorted.Length ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 0.5);

    /// <summary>Percentile-bootstrap interval: <paramref name="estimate"/> with the central <see cref="Level"/> of its replicates.</summary>
    public static Interval BootstrapInterval(double estimate, IReadOnlyList<double> replicates, int n, string method)
    {
        var finite = replicates.Where(double.IsFinite).ToList();
        if (finite.Count < 2) return Interval.Point(estimate, n, method + " (too few finite replicates)");
        return new Interval(estimate, Percentile(finite, (1 - Level) / 2), Percentile(finite, 0.5 + Level / 2), n, method);
    }

    /// <summary>
    /// Median with the distribution-free interval [x(k), x(n+1−k)] (order statistics; k as large as keeps the
    /// binomial coverage ≥ <see cref="Level"/>). Below 6 values no k reaches it: then [min, max] and its actual coverage.
    /// </summary>
    public static Interval MedianInterval(IReadOnlyList<double> values, string unit)
    {
        if (values.Count == 0) throw new ArgumentException("no values");
        var sorted = values.Order().ToArray();
        var n = sorted.Length;
        var median = Median(sorted);
        if (n == 1) return Interval.Point(median, 1, $"1 {unit}, no interval");
        var (k, coverage) = (1, Coverage(n, 1));
        while (k + 1 <= n / 2 && Coverage(n, k + 1) >= Level) (k, coverage) = (k + 1, Coverage(n, k + 1));
        var method = $"median, order-statistic interval over {n} {unit}s ({100 * coverage:F1} % coverage)";
        return new Interval(median, sorted[k - 1], sorted[n - k], n, method);
    }

    /// <summary>P(x(k) ≤ median ≤ x(n+1−k)) = 1 − 2·P(Binomial(n, ½) &lt; k).</summary>
    public static double Coverage(int n, int k)
    {
        double below = 0, term = Math.Pow(0.5, n); // C(n, 0)/2^n
        for (var j = 0; j < k; j++) { below += term; term *= (double)(n - j) / (j + 1); }
        return 1 - 2 * below;
    }
}
