using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Metrics;

/// <summary>The parts of a Fréchet distance: ‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2·tr √(Σ1Σ2).</summary>
public readonly record struct FrechetTerms(double MeanTerm, double Trace1, double Trace2, double TraceSqrt)
{
    public double Value => MeanTerm + Trace1 + Trace2 - 2 * TraceSqrt;
}

/// <summary>
/// Fréchet distance between Gaussians, in float64, without complex arithmetic: Σ1Σ2 has the non-zero eigenvalues of
/// the symmetric PSD matrix M = √Σ1·Σ2·√Σ1, so tr √(Σ1Σ2) = Σ √max(λ_i(M), 0), with √Σ1 from a symmetric
/// eigendecomposition (eigenvalues clamped at 0). Equals pytorch-fid's `calculate_frechet_distance` (scipy sqrtm) to
/// round-off for full-rank covariances, and stays finite and real for rank-deficient ones.
/// </summary>
public static class FrechetDistance
{
    public static double Compute(ActivationStatistics a, ActivationStatistics b) => Terms(a.Mean, a.Covariance, b.Mean, b.Covariance).Value;

    public static double Compute(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2) => Terms(mu1, sigma1, mu2, sigma2).Value;

    public static FrechetTerms Terms(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2)
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

        var (lambda, u) = linalg.eigh(a);
        var sqrtA = (u * lambda.clamp_min(0).sqrt()).mm(u.t());      // U·diag(√λ)·Uᵀ
        var m = Symmetric(sqrtA.mm(b).mm(sqrtA));
        var traceSqrt = linalg.eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();

        var diff = m1 - m2;
        return new FrechetTerms(diff.dot(diff).item<double>(), a.trace().item<double>(), b.trace().item<double>(), traceSqrt);
    }

    private static Tensor Symmetric(Tensor s) => (s + s.t()) / 2; // remove round-off asymmetry
}
