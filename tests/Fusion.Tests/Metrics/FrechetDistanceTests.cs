using Fusion.Models.Metrics;
using Fusion.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Tests.Metrics;

public class FrechetDistanceTests
{
    private static string FrechetFile => Fixtures.Path("fid-inception", "frechet.safetensors");

    /// <summary>Every case of the file (CASE.features1, CASE.features2, CASE.fid) with both square-root methods.</summary>
    public static TheoryData<string, FrechetSqrtMethod> Cases()
    {
        var f = Safetensors.LoadStateDict(FrechetFile);
        var data = new TheoryData<string, FrechetSqrtMethod>();
        foreach (var name in f.Keys.Where(k => k.EndsWith(".fid", StringComparison.Ordinal)).Select(k => k[..^".fid".Length]).Order(StringComparer.Ordinal))
            foreach (var method in Enum.GetValues<FrechetSqrtMethod>()) data.Add(name, method);
        foreach (var t in f.Values) t.Dispose();
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesPytorchFid(string name, FrechetSqrtMethod method)
    {
        var f = Safetensors.LoadStateDict(FrechetFile);
        using var s1 = Streamed(f[$"{name}.features1"], 37);
        using var s2 = Streamed(f[$"{name}.features2"], 64);
        var expected = f[$"{name}.fid"].item<double>();
        var fid = FrechetDistance.Compute(s1, s2, method);
        // 1e-6 relative, with a floor where the distance is zero up to rounding: it is a difference of terms of size
        // tr Σ1 + tr Σ2, which float64 square roots (scipy's sqrtm there, ours here) leave ~1e-12 of (two identical sets give
        // ≈1e-10 in scipy and ≈1e-13 here for traces of ~1e2); 1e-9 of the traces is 1000× that and still far below the
        // sampling noise of the distance between two finite sets of samples.
        var floor = 1e-9 * (s1.Covariance.trace().item<double>() + s2.Covariance.trace().item<double>());
        var tolerance = Math.Max(1e-6 * Math.Abs(expected), floor);
        Assert.True(Math.Abs(fid - expected) <= tolerance, $"{name}, {method}: {fid} vs pytorch-fid {expected} (tolerance {tolerance:G3})");
        foreach (var t in f.Values) t.Dispose();
    }

    private static ActivationStatistics Streamed(Tensor features, int batch)
    {
        using var acc = new ActivationAccumulator(features.shape[1]);
        for (long i = 0; i < features.shape[0]; i += batch) acc.Add(features.narrow(0, i, Math.Min(batch, features.shape[0] - i)));
        return acc.Compute();
    }

    [Fact]
    public void StreamingStatisticsEqualTwoPassFormulaEvenFarFromZero()
    {
        var gen = new Generator(1);
        using var x = randn([500, 16], dtype: float64, generator: gen) * 3 + 1e6; // large offset: naive Σxxᵀ − Nμμᵀ loses ~all digits
        using var stats = Streamed(x, 33);
        var mean = x.mean([0]);
        var centred = x - mean;
        var cov = centred.t().mm(centred) / 499;
        Assert.Equal(500, stats.Count);
        Assert.True(stats.Mean.allclose(mean, rtol: 1e-14, atol: 0));
        Assert.True(stats.Covariance.allclose(cov, rtol: 1e-10, atol: 1e-10), $"max |Δ| {(stats.Covariance - cov).abs().max().item<double>()}");
        using var once = ActivationStatistics.Of((x - 1e6).to(float32)); // float32 input is accepted and promoted
        Assert.True(once.Covariance.allclose(cov, rtol: 1e-5, atol: 1e-4));
    }

    [Fact]
    public void IdenticalStatisticsGiveZero()
    {
        var gen = new Generator(2);
        using var s = ActivationStatistics.Of(randn([300, 32], dtype: float64, generator: gen));
        var fid = FrechetDistance.Compute(s, s);
        Assert.True(Math.Abs(fid) < 1e-9 * s.Covariance.trace().item<double>(), fid.ToString());
    }

    [Fact]
    public void UnitCovarianceShiftedByOneIsTheDimension()
    {
        // pytorch-fid's own test: m1 = 0, m2 = 1, Σ = I → D.
        const int d = 64;
        Assert.Equal(d, FrechetDistance.Compute(zeros(d, float64), eye(d, dtype: float64), ones(d, dtype: float64), eye(d, dtype: float64)), 9);
    }

    [Fact]
    public void CommutingCovariancesMatchTheClosedForm()
    {
        // Σ1 = U diag(a) Uᵀ, Σ2 = U diag(b) Uᵀ → FID = ‖Δμ‖² + Σ (a + b − 2√(ab)); U = I is the diagonal case.
        var gen = new Generator(3);
        const int d = 48;
        var a = rand(d, dtype: float64, generator: gen) * 4 + 0.01;
        var b = rand(d, dtype: float64, generator: gen) * 4 + 0.01;
        var mu1 = randn(d, dtype: float64, generator: gen);
        var mu2 = randn(d, dtype: float64, generator: gen);
        var expected = (mu1 - mu2).pow(2).sum().item<double>() + (a + b - 2 * (a * b).sqrt()).sum().item<double>();
        var (u, _) = linalg.qr(randn([d, d], dtype: float64, generator: gen));
        foreach (var basis in new[] { eye(d, dtype: float64), u })
            foreach (var method in new[] { FrechetSqrtMethod.Auto, FrechetSqrtMethod.Eigh })
            {
                var s1 = (basis * a).mm(basis.t());
                var s2 = (basis * b).mm(basis.t());
                var fid = FrechetDistance.Compute(mu1, s1, mu2, s2, method);
                Assert.True(Math.Abs(fid - expected) < 1e-10 * expected, $"{method}: {fid} vs {expected}");
            }
    }

    [Fact]
    public void MatchesBruteForceNonSymmetricSquareRoot()
    {
        // tr √(Σ1Σ2) by Denman–Beavers iteration on the non-symmetric product, in float64 (small, well conditioned).
        var gen = new Generator(4);
        const int d = 12;
        using var s1 = ActivationStatistics.Of(randn([80, d], dtype: float64, generator: gen));
        using var s2 = ActivationStatistics.Of(randn([90, d], dtype: float64, generator: gen) * 2 + 0.5);
        var y = s1.Covariance.mm(s2.Covariance);
        var z = eye(d, dtype: float64);
        for (var i = 0; i < 60; i++) (y, z) = ((y + linalg.inv(z)) / 2, (z + linalg.inv(y)) / 2);
        var diff = s1.Mean - s2.Mean;
        var expected = diff.dot(diff).item<double>() + s1.Covariance.trace().item<double>() + s2.Covariance.trace().item<double>() - 2 * y.trace().item<double>();
        Assert.Equal(expected, FrechetDistance.Compute(s1, s2), 9);
        Assert.Equal(expected, FrechetDistance.Compute(s1, s2, FrechetSqrtMethod.Eigh), 9);
    }

    [Fact]
    public void RankDeficientCovariancesStayFiniteAndNonNegative()
    {
        var gen = new Generator(5);
        using var s1 = ActivationStatistics.Of(randn([10, 64], dtype: float64, generator: gen)); // rank 9
        using var s2 = ActivationStatistics.Of(randn([5, 64], dtype: float64, generator: gen));  // rank 4
        var terms = FrechetDistance.Terms(s1.Mean, s1.Covariance, s2.Mean, s2.Covariance);
        Assert.True(double.IsFinite(terms.Value) && terms.Value > 0, terms.ToString());
        Assert.True(terms.TraceSqrt <= Math.Sqrt(terms.Trace1 * terms.Trace2) + 1e-9); // Cauchy–Schwarz bound
        // Null-space round-off (~1e-16·‖M‖) enters through a square root, so the floor here is ~√ε, not ε.
        Assert.True(Math.Abs(FrechetDistance.Compute(s1, s1)) < 1e-6 * terms.Trace1);
    }

    [Fact]
    public void BadShapesAreNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(zeros(3, float64), eye(3, dtype: float64), zeros(4, float64), eye(4, dtype: float64)));
        Assert.Contains("mu2 [4]", ex.Message);
        using var acc = new ActivationAccumulator(8);
        Assert.Contains("[B, 8]", Assert.Throws<ArgumentException>(() => acc.Add(zeros(2, 7))).Message);
        acc.Add(zeros(1, 8));
        Assert.Throws<InvalidOperationException>(() => acc.Compute());
    }
}
