using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// DPM-Solver's <c>NoiseScheduleVP('discrete', betas)</c>: continuous time t ∈ (0, 1] over a discrete schedule. log α(t)
/// is piecewise linear in t through the knots (k/N, ½·Σ_{i≤k} log(1 − β_i)), k = 1..N, and linearly extrapolated
/// outside them; σ(t) = √(1 − α²), λ = log α − log σ. Like the reference, the tables and all arithmetic are float32.
/// The network sees the time as <see cref="ModelTime"/> = N·t (t = k/N ↔ training step k).
/// </summary>
public sealed class VPSchedule
{
    private readonly float[] _t;         // knots t_k = linspace(1/N, 1, N)
    private readonly float[] _logAlpha;  // log α at the knots

    public int N => _t.Length;
    public float T => 1.0f;

    public VPSchedule(IReadOnlyList<double> betas)
    {
        if (betas.Count < 2) throw new ArgumentException("a VP schedule needs at least 2 betas");
        using var b = tensor(betas.ToArray()).to(ScalarType.Float32);
        using var logAlpha = b.SubtractedFrom(1).log().cumsum(0).Times(0.5);
        using var t = linspace(1.0 / betas.Count, 1.0, betas.Count, dtype: ScalarType.Float32);
        _logAlpha = logAlpha.data<float>().ToArray();
        _t = t.data<float>().ToArray();
    }

    public static VPSchedule From(DiscreteSchedule schedule) => new(schedule.TrainingBetas());

    public float MarginalLogMeanCoeff(float t) => Interpolate(t, _t, _logAlpha);
    public float MarginalAlpha(float t) => MathF.Exp(MarginalLogMeanCoeff(t));
    public float MarginalStd(float t) => MathF.Sqrt(1f - MathF.Exp(2f * MarginalLogMeanCoeff(t)));

    public float MarginalLambda(float t)
    {
        var logMean = MarginalLogMeanCoeff(t);
        var logStd = 0.5f * MathF.Log(1f - MathF.Exp(2f * logMean));
        return logMean - logStd;
    }

    public float InverseLambda(float lambda)
    {
        // log α = −½·logaddexp(0, −2λ), then t by interpolation on the reversed knots (log α decreases with t).
        // log(1 + e), not log1p: the reference's torch 1.13 logaddexp; log1p (newer torch) moves the times by an ulp
        // and measurably away from the fixtures (tests/fixtures/dpm-solver).
        var y = -2f * lambda;
        var logAddExp = MathF.Max(0f, y) + MathF.Log(1f + MathF.Exp(-MathF.Abs(y)));
        var logAlpha = -0.5f * logAddExp;
        return Interpolate(logAlpha, _logAlphaReversed ??= _logAlpha.Reverse().ToArray(), _tReversed ??= _t.Reverse().ToArray());
    }

    private float[]? _logAlphaReversed, _tReversed;

    /// <summary>The time the network is called with during sampling: N·t as a float (e.g. 980.02 for t = 0.98002).</summary>
    public float ModelTime(float t) => t * N;

    /// <summary>
    /// The sampling grid: linspace(tStart, tEnd, intervals + 1) in float32, uniform in t ("time_uniform", the reference)
    /// or uniform in λ ("logSNR").
    /// </summary>
    public float[] TimeGrid(float tStart, float tEnd, int intervals, TimeSpacing spacing)
    {
        if (intervals < 1) throw new ArgumentOutOfRangeException(nameof(intervals), intervals, "need at least one interval");
        if (!(tStart > tEnd && tEnd > 0 && tStart <= 1)) throw new ArgumentException($"time grid must satisfy 1 ≥ tStart > tEnd > 0, got {tStart} → {tEnd}");
        if (spacing == TimeSpacing.TimeUniform)
        {
            using var g = linspace(tStart, tEnd, intervals + 1, dtype: ScalarType.Float32);
            return g.data<float>().ToArray();
        }
        using var l = linspace(MarginalLambda(tStart), MarginalLambda(tEnd), intervals + 1, dtype: ScalarType.Float32);
        return l.data<float>().ToArray().Select(InverseLambda).ToArray();
    }

    // Piecewise-linear interpolation through increasing knots xp, extended by the outermost segments (interpolate_fn).
    private static float Interpolate(float x, float[] xp, float[] yp)
    {
        int lo;
        if (x <= xp[0]) lo = 0;
        else if (x >= xp[^1]) lo = xp.Length - 2;
        else
        {
            lo = Array.BinarySearch(xp, x);
            if (lo < 0) lo = ~lo - 1;
            if (lo > xp.Length - 2) lo = xp.Length - 2;
        }
        return yp[lo] + (x - xp[lo]) * (yp[lo + 1] - yp[lo]) / (xp[lo + 1] - xp[lo]);
    }
}

/// <summary>How the sampling times are spaced.</summary>
public enum TimeSpacing
{
    /// <summary>Uniform in t (the reference's "time_uniform").</summary>
    TimeUniform,
    /// <summary>Uniform in λ = half log-SNR ("logSNR").</summary>
    LogSnr,
}
