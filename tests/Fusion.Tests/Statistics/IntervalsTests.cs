using Fusion.Reproduction.Statistics;

namespace Fusion.Tests.Statistics;

public class IntervalsTests
{
    [Theory]
    [InlineData(1, 12.7062)]   // t tables, two-sided 95 %
    [InlineData(2, 4.3027)]
    [InlineData(4, 2.7764)]
    [InlineData(10, 2.2281)]
    [InlineData(30, 2.0423)]
    [InlineData(1e7, 1.9600)]  // → the normal quantile
    public void T_quantiles_match_the_tables(double df, double expected) =>
        Assert.Equal(expected, Intervals.TQuantile(0.975, df), 4);

    /// <summary>
    /// The closed forms of the quantile at 1e-12 relative: df 1 (Cauchy) tan(π(p − ½)); df 2 (2p − 1)/√(2p(1 − p));
    /// df 4 sign(p − ½)·2√(q − 1) with q = cos(arccos(√α)/3)/√α, α = 4p(1 − p). Away from p = ½, where the closed
    /// forms themselves lose digits to cancellation.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void T_quantiles_match_the_closed_forms(int df)
    {
        var ps = Enumerable.Range(1, 999).Select(i => i / 1000.0).Where(p => Math.Abs(p - 0.5) >= 0.1).Concat([1e-4, 0.9995, 0.9999]);
        foreach (var p in ps)
        {
            var alpha = 4 * p * (1 - p);
            var exact = df switch
            {
                1 => Math.Tan(Math.PI * (p - 0.5)),
                2 => (2 * p - 1) / Math.Sqrt(2 * p * (1 - p)),
                _ => Math.Sign(p - 0.5) * 2 * Math.Sqrt(Math.Cos(Math.Acos(Math.Sqrt(alpha)) / 3) / Math.Sqrt(alpha) - 1),
            };
            var t = Intervals.TQuantile(p, df);
            Assert.True(Math.Abs(t - exact) <= 1e-12 * Math.Abs(exact), $"df {df}, p {p}: {t:R}, closed form {exact:R}");
        }
    }

    /// <summary>Fractional df (Welch's): values from mpmath 1.3.0 at 40 significant digits (the regularized incomplete beta inverted by bisection).</summary>
    [Theory]
    [InlineData(0.5, 0.975, 164.557673480488240799376)]
    [InlineData(1.5, 0.9975, 28.31673040448036422087294)]
    [InlineData(3.7, 0.995, 4.869252253227827946459808)]
    [InlineData(12.3, 0.975, 2.172933481758962018547046)]
    [InlineData(12.3, 0.9, 1.354294637638848002734181)]
    public void T_quantiles_of_fractional_df_match_an_arbitrary_precision_reference(double df, double p, double expected)
    {
        var t = Intervals.TQuantile(p, df);
        Assert.True(Math.Abs(t - expected) <= 1e-12 * expected, $"df {df}, p {p}: {t:R}, reference {expected:R}");
        Assert.Equal(-t, Intervals.TQuantile(1 - p, df), 12);
    }

    /// <summary>
    /// Agrees with MathNet's own StudentT.InvCDF over a grid of df and p, to that root search's accuracy (it stops at a
    /// CDF residual of 1e-12, ≈ 1e-10 relative in t), where it has a root: it searches only |t| ≤ 800, so df ≥ 1 here.
    /// </summary>
    [Fact]
    public void T_quantiles_agree_with_MathNets_inverse_CDF()
    {
        foreach (var df in new[] { 1, 1.3, 2, 2.5, 3, 5.5, 9, 17.2, 30, 120, 1000 })
            foreach (var p in new[] { 0.025, 0.1, 0.6, 0.9, 0.975, 0.99, 0.995, 0.999 })
            {
                var (t, theirs) = (Intervals.TQuantile(p, df), MathNet.Numerics.Distributions.StudentT.InvCDF(0, 1, df, p));
                Assert.True(Math.Abs(t - theirs) <= 1e-9 * Math.Abs(t), $"df {df}, p {p}: {t:R}, MathNet {theirs:R}");
            }
    }

    [Fact]
    public void T_interval_of_three_values()
    {
        var i = Intervals.TInterval([1, 2, 3], "seed");
        Assert.Equal(2, i.Estimate);
        Assert.Equal(4.302653 / Math.Sqrt(3), i.Hi - 2, 5);                       // sd = 1; t(0.975, 2) = 4.302653
        Assert.Equal(3, i.N);
        Assert.Contains("3 seeds", i.Method);
        var one = Intervals.TInterval([5], "seed");
        Assert.False(one.HasBounds);
        Assert.Equal("5.00", one.Format("F2"));
    }

    [Fact]
    public void Welch_with_equal_variances_and_sizes_has_2n_minus_2_degrees_of_freedom()
    {
        var i = Intervals.WelchInterval([1, 2, 3], [4, 5, 6], "seed");
        Assert.Equal(-3, i.Estimate, 12);
        Assert.Equal(2.776445 * Math.Sqrt(2.0 / 3), i.Hi + 3, 5);                 // df = 4, se = √(2/3)
        Assert.Throws<ArgumentException>(() => Intervals.WelchInterval([1], [2, 3], "seed"));
    }

    [Fact]
    public void Percentiles_interpolate_between_order_statistics()
    {
        var values = Enumerable.Range(0, 100).Select(i => (double)(99 - i)).ToList();
        Assert.Equal(2.475, Intervals.Percentile(values, 0.025), 12);               // numpy.percentile(range(100), 2.5)
        Assert.Equal(49.5, Intervals.Median(values), 12);
        Assert.Equal(3, Intervals.Median([5, 1, 3]), 12);
        var b = Intervals.BootstrapInterval(49.5, values, 100, "test");
        Assert.Equal(2.475, b.Lo, 12);
        Assert.Equal(96.525, b.Hi, 12);
    }

    [Fact]
    public void Median_interval_uses_the_order_statistics_with_95_percent_coverage()
    {
        Assert.Equal(1 - 2.0 / 64, Intervals.Coverage(6, 1), 12);
        Assert.Equal(1 - 2.0 * 11 / 1024, Intervals.Coverage(10, 2), 12);          // P(B < 2) = (1 + 10)/1024
        var ten = Intervals.MedianInterval([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], "round");
        Assert.Equal((5.5, 2.0, 9.0), (ten.Estimate, ten.Lo, ten.Hi));             // k = 2: 97.9 %; k = 3 would be 89.1 %
        Assert.Contains("97.9 % coverage", ten.Method);
        var five = Intervals.MedianInterval([3, 1, 2, 5, 4], "round");
        Assert.Equal((1.0, 5.0), (five.Lo, five.Hi));                              // below 6 values: [min, max] at 93.8 %
        Assert.Contains("93.8 % coverage", five.Method);
    }

    [Fact]
    public void Bootstrap_index_sets_are_deterministic_and_differ_between_replicates()
    {
        var a = Bootstrap.Indices(50, 7, 3);
        Assert.Equal(a, Bootstrap.Indices(50, 7, 3));
        Assert.NotEqual(a, Bootstrap.Indices(50, 7, 4));
        Assert.NotEqual(a, Bootstrap.Indices(50, 8, 3));
        Assert.All(a, i => Assert.InRange(i, 0, 49));
        Assert.Equal(50, Bootstrap.Counts(50, 7, 3).Sum());
        Assert.Equal(a.Distinct().Count(), Bootstrap.Counts(50, 7, 3).Count(c => c > 0));
        // The mean's bootstrap spread is about sd/√n: 0/1 values with p = ½, n = 400 → ±1.96·0.025.
        var coin = Enumerable.Range(0, 400).Select(i => (double)(i % 2)).ToList();
        var i95 = Intervals.BootstrapInterval(0.5, Bootstrap.Means(coin, 2000, 1), 400, "test");
        Assert.InRange(i95.Hi - i95.Lo, 0.08, 0.12);
    }
}
