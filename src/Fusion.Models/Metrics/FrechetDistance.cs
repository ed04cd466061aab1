using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Metrics;

/// <summary>The parts of a Fréchet distance: ‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2·tr √(Σ1Σ2).</summary>
public readonly record struct FrechetTerms(double MeanTerm, double Trace1, double Trace2, double TraceSqrt)
{
    public double Value => MeanTerm + Trace1 + Trace2 - 2 * TraceSqrt;
}

/// <summary>How tr √(Σ1Σ2) is reduced to a symmetric eigenvalue problem.</summary>
public enum FrechetSqrtMethod
{
    /// <summary>Cholesky Σ1 = LLᵀ, M = LᵀΣ2L, when Σ1 is numerically positive definite (≈3× faster); else <see cref="Eigh"/>.</summary>
    Auto,
    /// <summary>√Σ1 = U·diag(√max(λ, 0))·Uᵀ from eigh, M = √Σ1·Σ2·√Σ1: also defined for singular Σ1.</summary>
    Eigh,
}

/// <summary>
/// Fréchet distance between Gaussians, in float64, without complex arithmetic: Σ1Σ2 has the non-zero eigenvalues of a
/// symmetric PSD matrix M (√Σ1·Σ2·√Σ1, or LᵀΣ2L for Σ1 = LLᵀ), so tr √(Σ1Σ2) = Σ √max(λ_i(M), 0) from eigvalsh. Equals
/// pytorch-fid's `calculate_frechet_distance` (scipy sqrtm) to round-off for full-rank covariances, and stays finite
/// and real for rank-deficient ones.
/// </summary>
public static class FrechetDistance
{
    public static double Compute(ActivationStatistics a, ActivationStatistics b, FrechetSqrtMethod method = FrechetSqrtMethod.Auto) =>
        Terms(a.Mean, a.Covariance, b.Mean, b.Covariance, method).Value;

    public static double Compute(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2, FrechetSqrtMethod method = FrechetSqrtMethod.Auto) =>
        Terms(mu1, sigma1, mu2, sigma2, method).Value;

    public static FrechetTerms Terms(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2, FrechetSqrtMethod method = FrechetSqrtMethod.Auto)
    {
        var d = mu1.shape.Length == 1 ? mu1.shape[0] : -1;
        if (d < 0 || !mu2.shape.SequenceEqual([d]) || !sigma1.shape.SequenceEqual([d, d]) || !sigma2.shape.SequenceEqual([d, d]))
            throw new ArgumentException($"Fréchet distance needs mu [D] and sigma [D, D] on both sides; got mu1 {ActivationStatistics.Shape(mu1)}, " +
                                        $"sigma1 {ActivationStatistics.Shape(sigma1)}, mu2 {ActivationStatistics.Shape(mu2)}, sigma2 {ActivationStatistics.Shape(sigma2)}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var m1 = mu1.to(float64, CPU); var m2 = mu2.to(float64, CPU);
        var a = Symmetric(sigma1.to(float64, CPU));
        var b = Symmetric(sigma2.to(float64, CPU));
        foreach (var (name, t) in new[] { ("mu1", m1), ("mu2", m2), ("sigma1", a), ("sigma2", b) })
            if (!t.isfinite().all().item<bool>()) throw new ArgumentException($"Fréchet distance: {name} has non-finite entries");

        using var zero = 0.ToScalar();
        var traceSqrt = linalg.eigvalsh(Symmetric(SimilarToProduct(a, b, method))).clamp_min(zero).sqrt().sum().item<double>();
        var diff = m1 - m2;
        return new FrechetTerms(diff.dot(diff).item<double>(), a.trace().item<double>(), b.trace().item<double>(), traceSqrt);
    }

    // A symmetric PSD matrix with the eigenvalues of a·b.
    private static Tensor SimilarToProduct(Tensor a, Tensor b, FrechetSqrtMethod method)
    {
        if (method == FrechetSqrtMethod.Auto)
        {
            var (l, info) = linalg.cholesky_ex(a);
            if (info.item<int>() == 0) return l.t().mm(b).mm(l); // a·b = L(LᵀbL)L⁻¹
        }
        var (lambda, u) = linalg.eigh(a);
        using var zero = 0.ToScalar();
        var sqrtA = (u * lambda.clamp_min(zero).sqrt()).mm(u.t()); // U·diag(√λ)·Uᵀ
        return sqrtA.mm(b).mm(sqrtA);
    }

    private static Tensor Symmetric(Tensor s) => s.Plus(s.t()).Over(2); // remove round-off asymmetry
}
