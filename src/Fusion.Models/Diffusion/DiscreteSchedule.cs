using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>How β_n runs from β_start to β_end.</summary>
public enum BetaSchedule
{
    /// <summary>Stable Diffusion's and U-ViT's: β linear in √β (made for KL-f8 latents).</summary>
    ScaledLinear,
    /// <summary>DDPM's: β linear (made for pixels).</summary>
    Linear,
}

/// <summary>
/// The discrete noise schedule used for training (U-ViT's <c>Schedule</c> over Stable Diffusion's "scaled linear" betas).
/// Arrays are indexed by the step n = 0..N with β_0 = 0, ᾱ_0 = 1, all in float64 as the reference computes them.
/// </summary>
public sealed class DiscreteSchedule
{
    public int N { get; }
    /// <summary>β_n, n = 0..N (β_0 = 0).</summary>
    public IReadOnlyList<double> Betas { get; }
    /// <summary>ᾱ_n = ∏_{i≤n} (1 − β_i), n = 0..N.</summary>
    public IReadOnlyList<double> AlphasCumprod { get; }
    /// <summary>1 − ᾱ_n, summed the way the reference's "skip" matrix does (not 1 − ᾱ_n in floating point).</summary>
    public IReadOnlyList<double> OneMinusAlphasCumprod { get; }

    private DiscreteSchedule(double[] betasFrom1)
    {
        N = betasFrom1.Length;
        var betas = new double[N + 1];
        Array.Copy(betasFrom1, 0, betas, 1, N);
        var alphas = betas.Select(b => 1.0 - b).ToArray();
        var cum = new double[N + 1];
        cum[0] = 1.0;
        for (var n = 1; n <= N; n++) cum[n] = cum[n - 1] * alphas[n];
        Betas = betas;
        AlphasCumprod = cum;
        OneMinusAlphasCumprod = ReferenceCumBetas(alphas, betas);
    }

    /// <summary>Stable Diffusion's schedule: β = linspace(√start, √end, n)² in float64 (defaults: 1000 steps, 0.00085 → 0.012).</summary>
    public static DiscreteSchedule StableDiffusion(int steps = 1000, double betaStart = 0.00085, double betaEnd = 0.012)
    {
        if (steps < 2) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a schedule needs at least 2 steps");
        if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd))
            throw new ArgumentException($"beta range must satisfy 0 < start ≤ end < 1, got {betaStart} → {betaEnd}");
        // torch.linspace in float64, exactly as the reference (its two-sided formula differs from start + i·step in the last bit).
        using var lin = linspace(Math.Sqrt(betaStart), Math.Sqrt(betaEnd), steps, dtype: ScalarType.Float64);
        using var two = 2.ToScalar();
        using var sq = lin.pow(two);
        return new DiscreteSchedule(sq.data<double>().ToArray());
    }

    /// <summary>
    /// DDPM's linear schedule (Ho et al. 2020): β = linspace(start, end, n) in float64 (their values: 1e-4 → 0.02). It ends
    /// at ᾱ_N ≈ 4·10⁻⁵, where Stable Diffusion's latent schedule keeps ᾱ_N ≈ 0.005: in pixel space that leftover signal
    /// lets a model read each image's mean colour from x_N during training, which pure noise at sampling time lacks.
    /// </summary>
    public static DiscreteSchedule Linear(int steps = 1000, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        if (steps < 2) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a schedule needs at least 2 steps");
        if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd))
            throw new ArgumentException($"beta range must satisfy 0 < start ≤ end < 1, got {betaStart} → {betaEnd}");
        using var lin = linspace(betaStart, betaEnd, steps, dtype: ScalarType.Float64);
        return new DiscreteSchedule(lin.data<double>().ToArray());
    }

    /// <summary>The schedule of <paramref name="kind"/> over <paramref name="steps"/> steps from β_start to β_end.</summary>
    public static DiscreteSchedule Of(BetaSchedule kind, int steps, double betaStart, double betaEnd) => kind switch
    {
        BetaSchedule.ScaledLinear => StableDiffusion(steps, betaStart, betaEnd),
        BetaSchedule.Linear => Linear(steps, betaStart, betaEnd),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown beta schedule"),
    };

    /// <summary>ᾱ_N, the signal variance left at the last step (0 would be pure noise).</summary>
    public double TerminalAlphaBar => AlphasCumprod[N];

    public static DiscreteSchedule FromBetas(IReadOnlyList<double> betas)
    {
        if (betas.Count < 2 || betas.Any(b => !(b > 0 && b < 1)))
            throw new ArgumentException("betas must hold at least 2 values, each in (0, 1)");
        return new DiscreteSchedule(betas.ToArray());
    }

    /// <summary>The N betas β_1..β_N (without the leading 0), e.g. for <see cref="VPSchedule"/>.</summary>
    public double[] TrainingBetas() => Betas.Skip(1).ToArray();

    /// <summary>√ᾱ_n and √(1 − ᾱ_n) for integer steps n (shape [B], int64), float64 tables cast to <paramref name="dtype"/>.</summary>
    public (Tensor SqrtAlphaBar, Tensor SqrtOneMinusAlphaBar) Coefficients(Tensor steps, ScalarType dtype)
    {
        var n = steps.data<long>().ToArray();
        foreach (var k in n)
            if (k < 0 || k > N) throw new ArgumentOutOfRangeException(nameof(steps), k, $"step outside 0..{N}");
        var a = n.Select(k => Math.Sqrt(AlphasCumprod[(int)k])).ToArray();
        var s = n.Select(k => Math.Sqrt(OneMinusAlphasCumprod[(int)k])).ToArray();
        return (tensor(a).to(dtype), tensor(s).to(dtype));
    }

    /// <summary>x_n = √ᾱ_n·x0 + √(1 − ᾱ_n)·ε for steps n [B] (int64, CPU), the coefficients cast to x0's dtype before
    /// multiplying, as the reference's <c>stp</c> does. <paramref name="toDevice"/> moves the coefficients to x0's device
    /// (default: a plain copy; the trainer passes a non-blocking one).</summary>
    public Tensor AddNoise(Tensor x0, Tensor steps, Tensor eps, Func<Tensor, Tensor>? toDevice = null)
    {
        var (sa, sb) = Broadcast(x0, steps, toDevice);
        return (sa * x0).Plus(sb * eps);
    }

    /// <summary>v = √ᾱ_n·ε − √(1 − ᾱ_n)·x0 for steps n [B] (the target of <see cref="Prediction.Velocity"/>).</summary>
    public Tensor Velocity(Tensor x0, Tensor steps, Tensor eps, Func<Tensor, Tensor>? toDevice = null)
    {
        var (sa, sb) = Broadcast(x0, steps, toDevice);
        return sa * eps - sb * x0;
    }

    // √ᾱ_n and √(1 − ᾱ_n) in x0's dtype, on its device, shaped [B, 1, …] to broadcast against it.
    private (Tensor Sa, Tensor Sb) Broadcast(Tensor x0, Tensor steps, Func<Tensor, Tensor>? toDevice)
    {
        var (sa, sb) = Coefficients(steps, x0.dtype);
        var view = new long[] { -1 }.Concat(Enumerable.Repeat(1L, (int)x0.dim() - 1)).ToArray();
        toDevice ??= c => c.to(x0.device);
        return (toDevice(sa).view(view), toDevice(sb).view(view));
    }

    // skip_betas[0, t] = Σ_k β_k · skip_alphas[k, t], accumulated from k = t down to 1 (the reference's reversed cumsum);
    // skip_alphas[k, t] = α_{k+1}·…·α_t multiplied left to right (1 when k = t).
    private static double[] ReferenceCumBetas(double[] alphas, double[] betas)
    {
        var n = betas.Length - 1;
        var skip = new double[n + 1, n + 1];
        for (var k = 0; k <= n; k++)
        {
            skip[k, k] = 1.0;
            for (var t = k + 1; t <= n; t++) skip[k, t] = t == k + 1 ? alphas[t] : skip[k, t - 1] * alphas[t];
        }
        var result = new double[n + 1];
        for (var t = 1; t <= n; t++)
        {
            var sum = 0.0;
            for (var k = t; k >= 1; k--) sum += betas[k] * skip[k, t];
            result[t] = sum;
        }
        return result;
    }
}
