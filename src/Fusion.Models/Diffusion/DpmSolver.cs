using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// DPM-Solver over a <see cref="VPSchedule"/>, following U-ViT's <c>dpm_solver_pp.py</c> (the solver its evaluation
/// uses): the "fast" single-step method with per-step orders [3, …, 3, 2|1] whose intermediate times are the grid
/// points inside each step (r1, r2 from their λ), and the multistep method (orders 1..3, lower orders for the first
/// steps). The network is called at model time N·t. Arithmetic on schedule quantities is float32, like the reference.
/// </summary>
/// <para>A v-predicting network (<paramref name="prediction"/>) is read as ε̂ = α_t·v̂ + σ_t·x at the solver's own α_t, σ_t.</para>
public sealed class DpmSolver(VPSchedule schedule, Prediction prediction = Prediction.Epsilon)
{
    public VPSchedule Schedule { get; } = schedule;

    /// <summary>Model evaluations used by the last <see cref="Sample"/>.</summary>
    public int Evaluations { get; private set; }

    private bool clipX0;   // SamplerOptions.ClipX0 of the running Sample

    /// <summary>Per-step orders of the "fast" method for a number of evaluations.</summary>
    public static int[] FastOrders(int steps, int order)
    {
        if (order == 3)
        {
            var k = steps / 3 + 1;
            return (steps % 3) switch
            {
                0 => [.. Enumerable.Repeat(3, k - 2), 2, 1],
                1 => [.. Enumerable.Repeat(3, k - 1), 1],
                _ => [.. Enumerable.Repeat(3, k - 1), 2],
            };
        }
        if (order == 2) return [.. Enumerable.Repeat(2, steps / 2), .. steps % 2 == 1 ? new[] { 1 } : []];
        throw new ArgumentOutOfRangeException(nameof(order), order, "the fast method supports order 2 or 3");
    }

    /// <summary>The grid's last time: the options' TEnd, else 1/N (below it the discrete schedule has no knots).</summary>
    public float EndTime(SamplerOptions o) => o.TEnd ?? 1f / Schedule.N;

    public Tensor Sample(EpsModel model, Tensor xT, SamplerOptions o)
    {
        if (o.Steps < 1) throw new ArgumentOutOfRangeException(nameof(o), o.Steps, "Steps must be ≥ 1");
        if (o.ClipX0 && !o.PredictX0) throw new ArgumentException("ClipX0 clamps the data prediction, so it needs PredictX0", nameof(o));
        Evaluations = 0;
        clipX0 = o.ClipX0;
        using var _ = no_grad();
        var grid = Schedule.TimeGrid(o.TStart, EndTime(o), o.Steps, o.Spacing);
        var x = xT.to(ScalarType.Float32, copy: true);
        switch (o.Kind)
        {
            case SamplerKind.DpmSolverFast:
            {
                var i = 0;
                foreach (var order in FastOrders(o.Steps, o.Order))
                {
                    float s = grid[i], t = grid[i + order];
                    var h = Lambda(t) - Lambda(s);
                    float? r1 = order <= 1 ? null : (Lambda(grid[i + 1]) - Lambda(s)) / h;
                    float? r2 = order <= 2 ? null : (Lambda(grid[i + 2]) - Lambda(s)) / h;
                    Replace(ref x, () => SinglestepUpdate(model, x, s, t, order, r1, r2, o.PredictX0));
                    i += order;
                }
                break;
            }
            case SamplerKind.DpmSolverMultistep:
            {
                if (o.Order is < 1 or > 3 || o.Steps < o.Order) throw new ArgumentException($"multistep needs 1 ≤ Order ≤ 3 and Steps ≥ Order, got order {o.Order}, steps {o.Steps}");
                var outs = new List<Tensor> { Output(model, x, grid[0], o.PredictX0) };
                var times = new List<float> { grid[0] };
                for (var init = 1; init < o.Order; init++)
                {
                    Replace(ref x, () => MultistepUpdate(x, outs, times, grid[init], init, o.PredictX0));
                    outs.Add(Output(model, x, grid[init], o.PredictX0));
                    times.Add(grid[init]);
                }
                for (var step = o.Order; step <= o.Steps; step++)
                {
                    Replace(ref x, () => MultistepUpdate(x, outs, times, grid[step], o.Order, o.PredictX0));
                    outs[0].Dispose();
                    outs.RemoveAt(0);
                    times.RemoveAt(0);
                    times.Add(grid[step]);
                    if (step < o.Steps) outs.Add(Output(model, x, grid[step], o.PredictX0));
                }
                foreach (var m in outs) m.Dispose();
                break;
            }
            default: throw new ArgumentException($"{o.Kind} is not a DPM-Solver method");
        }
        if (o.Denoise) Replace(ref x, () => DataPrediction(model, x, grid[^1]));
        return x;
    }

    // Computes the next state in its own dispose scope (freeing the step's temporaries) and frees the previous one.
    private static void Replace(ref Tensor x, Func<Tensor> next)
    {
        Tensor result;
        using (var scope = NewDisposeScope()) result = next().MoveToOuterDisposeScope();
        x.Dispose();
        x = result;
    }

    private float Lambda(float t) => Schedule.MarginalLambda(t);

    private Tensor Eps(EpsModel model, Tensor x, float t)
    {
        Evaluations++;
        using var modelTime = Schedule.ModelTime(t).ToScalar();
        using var time = full([x.shape[0]], modelTime, ScalarType.Float32, x.device);
        if (prediction == Prediction.Epsilon) return model(x, time);
        using var v = model(x, time);
        return v.Times(Schedule.MarginalAlpha(t)).Plus(x.Times(Schedule.MarginalStd(t)));
    }

    private Tensor DataPrediction(EpsModel model, Tensor x, float t)
    {
        var (alpha, sigma) = (Schedule.MarginalAlpha(t), Schedule.MarginalStd(t));
        var x0 = (x - Eps(model, x, t).Times(sigma)).Over(alpha);
        if (!clipX0) return x0;
        using Scalar lo = (-1f).ToScalar(), hi = 1f.ToScalar();
        return x0.clamp_(lo, hi);
    }

    private Tensor Output(EpsModel model, Tensor x, float t, bool predictX0)
    {
        using var scope = NewDisposeScope();
        return (predictX0 ? DataPrediction(model, x, t) : Eps(model, x, t)).MoveToOuterDisposeScope();
    }

    private Tensor SinglestepUpdate(EpsModel model, Tensor x, float s, float t, int order, float? r1In, float? r2In, bool predictX0)
    {
        var ns = Schedule;
        float lamS = Lambda(s), lamT = Lambda(t), h = lamT - lamS;
        float logAs = ns.MarginalLogMeanCoeff(s), logAt = ns.MarginalLogMeanCoeff(t);
        float sigS = ns.MarginalStd(s), sigT = ns.MarginalStd(t), alphaT = MathF.Exp(logAt);
        var m0 = Output(model, x, s, predictX0);
        if (order == 1)
            return predictX0
                ? x.Times(sigT / sigS).Plus(m0.Times(alphaT * ((MathF.Exp(-h) - 1f) / -1f)))
                : x.Times(MathF.Exp(logAt - logAs)) - m0.Times(sigT * ExpM1(h));

        var r1 = r1In ?? (order == 2 ? 0.5f : 1f / 3f);
        var s1 = ns.InverseLambda(lamS + r1 * h);
        float logAs1 = ns.MarginalLogMeanCoeff(s1), sigS1 = ns.MarginalStd(s1), alphaS1 = MathF.Exp(logAs1);
        if (order == 2)
        {
            if (predictX0)
            {
                float phi11 = ExpM1(-r1 * h), phi1 = ExpM1(-h);
                var xs1 = x.Times(sigS1 / sigS) - m0.Times(alphaS1 * phi11);
                var m1 = Output(model, xs1, s1, true);
                return x.Times(sigT / sigS) - m0.Times(alphaT * phi1) - (m1 - m0).Times(alphaT * phi1).Times(0.5f / r1);
            }
            else
            {
                float phi11 = ExpM1(r1 * h), phi1 = ExpM1(h);
                var xs1 = x.Times(MathF.Exp(logAs1 - logAs)) - m0.Times(sigS1 * phi11);
                var m1 = Output(model, xs1, s1, false);
                return x.Times(MathF.Exp(logAt - logAs)) - m0.Times(sigT * phi1) - (m1 - m0).Times(sigT * phi1).Times(0.5f / r1);
            }
        }
        if (order != 3) throw new ArgumentOutOfRangeException(nameof(order), order, "single-step order must be 1, 2 or 3");
        var r2 = r2In ?? 2f / 3f;
        var s2 = ns.InverseLambda(lamS + r2 * h);
        float logAs2 = ns.MarginalLogMeanCoeff(s2), sigS2 = ns.MarginalStd(s2), alphaS2 = MathF.Exp(logAs2);
        if (predictX0)
        {
            float phi11 = ExpM1(-r1 * h), phi12 = ExpM1(-r2 * h), phi1 = ExpM1(-h);
            float phi22 = ExpM1(-r2 * h) / (r2 * h) + 1f, phi2 = phi1 / h + 1f;
            var xs1 = x.Times(sigS1 / sigS) - m0.Times(alphaS1 * phi11);
            var m1 = Output(model, xs1, s1, true);
            var xs2 = (x.Times(sigS2 / sigS) - m0.Times(alphaS2 * phi12)).Plus((m1 - m0).Times(alphaS2 * phi22).Times(r2 / r1));
            var m2 = Output(model, xs2, s2, true);
            return (x.Times(sigT / sigS) - m0.Times(alphaT * phi1)).Plus((m2 - m0).Times(alphaT * phi2).Times(1f / r2));
        }
        else
        {
            float phi11 = ExpM1(r1 * h), phi12 = ExpM1(r2 * h), phi1 = ExpM1(h);
            float phi22 = ExpM1(r2 * h) / (r2 * h) - 1f, phi2 = phi1 / h - 1f;
            var xs1 = x.Times(MathF.Exp(logAs1 - logAs)) - m0.Times(sigS1 * phi11);
            var m1 = Output(model, xs1, s1, false);
            var xs2 = x.Times(MathF.Exp(logAs2 - logAs)) - m0.Times(sigS2 * phi12) - (m1 - m0).Times(sigS2 * phi22).Times(r2 / r1);
            var m2 = Output(model, xs2, s2, false);
            return x.Times(MathF.Exp(logAt - logAs)) - m0.Times(sigT * phi1) - (m2 - m0).Times(sigT * phi2).Times(1f / r2);
        }
    }

    private Tensor MultistepUpdate(Tensor x, List<Tensor> outs, List<float> times, float t, int order, bool predictX0)
    {
        var ns = Schedule;
        var p0 = times[^1];
        float lamP0 = Lambda(p0), lamT = Lambda(t), h = lamT - lamP0;
        float logAp0 = ns.MarginalLogMeanCoeff(p0), logAt = ns.MarginalLogMeanCoeff(t);
        float sigP0 = ns.MarginalStd(p0), sigT = ns.MarginalStd(t), alphaT = MathF.Exp(logAt);
        var m0 = outs[^1];
        var baseX = predictX0 ? x.Times(sigT / sigP0) - m0.Times(alphaT * (MathF.Exp(-h) - 1f))
                              : x.Times(MathF.Exp(logAt - logAp0)) - m0.Times(sigT * (MathF.Exp(h) - 1f));
        if (order == 1)
            return predictX0 ? x.Times(sigT / sigP0).Plus(m0.Times(alphaT * ((MathF.Exp(-h) - 1f) / -1f)))
                             : x.Times(MathF.Exp(logAt - logAp0)) - m0.Times(sigT * ExpM1(h));
        var m1 = outs[^2];
        var h0 = lamP0 - Lambda(times[^2]);
        var r0 = h0 / h;
        var d10 = (m0 - m1).Times(1f / r0);
        if (order == 2)
            return predictX0 ? baseX - d10.Times(0.5f * (alphaT * (MathF.Exp(-h) - 1f)))
                             : baseX - d10.Times(0.5f * (sigT * (MathF.Exp(h) - 1f)));
        var m2 = outs[^3];
        var h1 = Lambda(times[^2]) - Lambda(times[^3]);
        var r1 = h1 / h;
        var d11 = (m1 - m2).Times(1f / r1);
        var d1 = d10.Plus((d10 - d11).Times(r0 / (r0 + r1)));
        var d2 = (d10 - d11).Times(1f / (r0 + r1));
        return predictX0
            ? baseX.Plus(d1.Times(alphaT * ((MathF.Exp(-h) - 1f) / h + 1f))) - d2.Times(alphaT * ((MathF.Exp(-h) - 1f + h) / (h * h) - 0.5f))
            : baseX - d1.Times(sigT * ((MathF.Exp(h) - 1f) / h - 1f)) - d2.Times(sigT * ((MathF.Exp(h) - 1f - h) / (h * h) - 0.5f));
    }

    // expm1 in float32 (torch.expm1 on a float32 tensor), through double to keep small arguments accurate.
    private static float ExpM1(float v) => (float)(Math.Abs(v) < 1e-5 ? v + 0.5 * v * v : Math.Exp(v) - 1.0);
}
