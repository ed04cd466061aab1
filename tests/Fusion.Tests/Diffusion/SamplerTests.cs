using Fusion.Models.Diffusion;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

public class SamplerTests(ITestOutputHelper output)
{
    private static readonly DiscreteSchedule Sd = DiscreteSchedule.StableDiffusion();
    private static readonly VPSchedule Vp = VPSchedule.From(Sd);

    private static (GaussianOracle Net, Tensor Context, Tensor XT) Problem()
    {
        using var g = new Generator(11);
        var context = randn([4, 3, 2], generator: g) + tensor(new float[] { -1.5f, -0.3f, 0.4f, 1.2f }).view(4, 1, 1);
        var xT = randn([4, 2, 4, 4], generator: g);
        return (new GaussianOracle(Vp, dataStd: 0.5), context, xT);
    }

    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    private double Error(SamplerOptions o, float tEnd)
    {
        var (net, context, xT) = Problem();
        var x = DiffusionSampler.Run(Guidance.ClassifierFree(net, context, null, 0), xT, o, Sd);
        var exact = net.ExactOdeSolution(xT, context, 1.0f, tEnd);
        var err = (x.to(ScalarType.Float64) - exact).abs().max().item<double>() / exact.abs().max().item<double>();
        output.WriteLine($"{o.Kind} steps {o.Steps} order {o.Order} x0 {o.PredictX0}: relative error {err:E2}, NFE {net.Calls}");
        return err;
    }

    [Fact]
    public void ReferenceDpmSolverMatchesTheExactOdeSolution()
    {
        // The reference setting (fast, order 3, 50 NFE, time-uniform 1 → 1e-3, x0 prediction) on a network whose
        // probability-flow ODE has a closed-form solution. On a uniform-in-t grid the last steps span large λ intervals
        // (λ ~ ½·log(1/t) as t → 0), which limits its accuracy here to ~1e-2 (a wrong coefficient gives O(1) errors).
        var reference = Error(SamplerOptions.Reference, 1e-3f);
        Assert.True(reference < 1.5e-2, $"fast-50 (time-uniform) error {reference}");
        // The same solver on a uniform-in-λ grid shows its third order: at 24 NFE already close, at 48 at float32 precision.
        var e24 = Error(SamplerOptions.Reference with { Steps = 24, Spacing = TimeSpacing.LogSnr }, 1e-3f);
        var e48 = Error(SamplerOptions.Reference with { Steps = 48, Spacing = TimeSpacing.LogSnr }, 1e-3f);
        Assert.True(e24 < 2e-4, $"fast-24 (logSNR) error {e24}");
        Assert.True(e48 < 5e-6, $"fast-48 (logSNR) error {e48}");
        // …and agrees with a fine DDIM (first order; 999 steps over every training step) to within DDIM's own error.
        var ddim = Error(SamplerOptions.Ddim(999), 1e-3f);
        Assert.True(ddim < 3e-3, $"DDIM-999 error {ddim}");
    }

    [Fact]
    public void DpmSolverPlusPlusAndOtherOrdersConvergeAtTheirOrder()
    {
        // Halving λ-steps must divide the error by ≈ 2^order (order-2 methods: ≈ 4).
        var logSnr = TimeSpacing.LogSnr;
        double Ratio(SamplerOptions o) => Error(o with { Steps = 48, Spacing = logSnr }, 1e-3f) / Error(o with { Steps = 96, Spacing = logSnr }, 1e-3f);
        var pp2 = Ratio(SamplerOptions.DpmSolverPlusPlus());
        var fast2 = Ratio(SamplerOptions.Reference with { Order = 2 });
        var fast2Eps = Ratio(SamplerOptions.Reference with { Order = 2, PredictX0 = false });
        foreach (var (name, r) in new[] { ("DPM-Solver++(2M)", pp2), ("fast order 2", fast2), ("fast order 2, ε form", fast2Eps) })
            Assert.True(r is > 3.2 and < 5, $"{name}: error ratio {r} for twice the steps");
        var pp3 = Error(SamplerOptions.DpmSolverPlusPlus(96, order: 3) with { Spacing = logSnr }, 1e-3f);
        var eps3 = Error(SamplerOptions.Reference with { Steps = 48, Spacing = logSnr, PredictX0 = false }, 1e-3f);
        Assert.True(pp3 < 1e-4, $"DPM-Solver++(3M) 96: {pp3}");
        Assert.True(eps3 < 1e-4, $"fast order 3, ε form, 48: {eps3}");
        // The reference's time-uniform grid with the multistep solver is still in the same ballpark.
        var ppRef = Error(SamplerOptions.DpmSolverPlusPlus(50), 1e-3f);
        Assert.True(ppRef < 5e-2, $"DPM-Solver++(2M) 50 time-uniform: {ppRef}");
    }

    [Fact]
    public void FineDdimConvergesAtFirstOrder()
    {
        var fine = Error(SamplerOptions.Ddim(999), 1e-3f);
        var coarse = Error(SamplerOptions.Ddim(50), 1e-3f);
        Assert.True(fine < 3e-3, $"DDIM-999 error {fine}");
        Assert.True(coarse / fine is > 8 and < 40, $"DDIM 50 → 999 steps: {coarse} → {fine}");
        Assert.Equal([1000, 999, 998], Ddim.Timesteps(1000, 999, toClean: false).Take(3));
        Assert.Equal(1, Ddim.Timesteps(1000, 50, toClean: false)[^1]);
        Assert.Equal(51, Ddim.Timesteps(1000, 50, toClean: false).Length);
    }

    [Fact]
    public void ClipX0KeepsPixelSamplesInRangeAndChangesNothingInside()
    {
        // Data with std 3 leave [−1, 1] far behind; clipped x̂0 keep every solver's sample near it (the updates combine
        // clipped x̂0 and a tiny multiple of x; the higher-order ones extrapolate between x̂0s a little, hence the slack).
        using var g = new Generator(5);
        var context = randn([4, 3, 2], generator: g);
        var xT = randn([4, 2, 4, 4], generator: g);
        foreach (var o in new[] { SamplerOptions.Reference with { Steps = 12 }, SamplerOptions.DpmSolverPlusPlus(12), SamplerOptions.Ddim(12) })
        {
            var wide = new GaussianOracle(Vp, dataStd: 3.0);
            var free = DiffusionSampler.Run(Guidance.ClassifierFree(wide, context, null, 0), xT, o, Sd).abs().max().item<float>();
            var clipped = DiffusionSampler.Run(Guidance.ClassifierFree(wide, context, null, 0), xT, o with { ClipX0 = true }, Sd).abs().max().item<float>();
            output.WriteLine($"{o.Kind}: max |x| {free:F3} free, {clipped:F4} with x̂0 clipped");
            Assert.True(free > 2, $"{o.Kind}: unclipped max {free}");
            Assert.True(clipped <= 1.1f, $"{o.Kind}: clipped max {clipped}");
        }
        // Data well inside the range: x̂0 leaves it only at the first, noisiest steps, so the result moves little.
        var narrow = new GaussianOracle(Vp, dataStd: 0.1);
        var a = DiffusionSampler.Run(Guidance.ClassifierFree(narrow, context * 0, null, 0), xT, SamplerOptions.Reference, Sd);
        var b = DiffusionSampler.Run(Guidance.ClassifierFree(narrow, context * 0, null, 0), xT, SamplerOptions.Reference with { ClipX0 = true }, Sd);
        Assert.True(a.abs().max().item<float>() < 1f);
        Assert.True((a - b).abs().max().item<float>() < 0.05f, $"clipping moved in-range samples by {(a - b).abs().max().item<float>()}");
        Assert.Throws<ArgumentException>(() => new DpmSolver(Vp).Sample(Guidance.ClassifierFree(narrow, context, null, 0), xT,
            SamplerOptions.Reference with { PredictX0 = false, ClipX0 = true }));
    }

    [Fact]
    public void FastMethodUsesTheReferenceOrdersAndFiftyEvaluations()
    {
        Assert.Equal(Enumerable.Repeat(3, 16).Append(2), DpmSolver.FastOrders(50, 3));
        Assert.Equal(Enumerable.Repeat(3, 16).Concat([2, 1]), DpmSolver.FastOrders(51, 3));
        Assert.Equal(Enumerable.Repeat(3, 17).Append(1), DpmSolver.FastOrders(52, 3));
        var (net, context, xT) = Problem();
        var solver = new DpmSolver(Vp);
        solver.Sample(Guidance.ClassifierFree(net, context, null, 0), xT, SamplerOptions.Reference);
        Assert.Equal(50, solver.Evaluations);
        Assert.Equal(50, net.Calls);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(500)]
    [InlineData(4000)]
    public void TheGridEndsAtTheFirstDiscreteStepOfAnyN(int n)
    {
        // The reference samples with eps = 1/N: the last evaluation is at model time 1 whatever N is (a fixed 1e-3
        // would sit below the first knot of a 500-step schedule, or skip three steps of a 4,000-step one).
        var vp = VPSchedule.From(DiscreteSchedule.StableDiffusion(n));
        var solver = new DpmSolver(vp);
        Assert.Equal(1f / n, solver.EndTime(SamplerOptions.Reference));
        Assert.Equal(0.25f, solver.EndTime(SamplerOptions.Reference with { TEnd = 0.25f }));
        var modelTimes = new List<float>();
        EpsModel recorder = (x, t) => { modelTimes.Add(t.min().item<float>()); return zeros_like(x); };
        solver.Sample(recorder, zeros(1, 1, 2, 2), SamplerOptions.Reference with { Steps = 6, Denoise = true });   // evaluates at the end too
        Assert.Equal(1f, modelTimes.Min(), 4);
        Assert.Equal(n, modelTimes.Max(), 2);
    }

    [Fact]
    public void GuidanceIsOneDoubledForwardWithTheReferenceFormula()
    {
        var (net, context, xT) = Problem();
        var nullContext = full([3, 2], 0.7f);
        using var t = full([4], 500f);
        var guided = Guidance.ClassifierFree(net, context, nullContext, 1.0)(xT, t);
        Assert.Equal(1, net.Calls);
        Assert.Equal(8, net.LastBatch);
        var cond = net.call(xT, t, context);
        var uncond = net.call(xT, t, nullContext.unsqueeze(0).expand(4, 3, 2));
        Assert.True(guided.allclose(cond * 2 - uncond, rtol: 1e-6, atol: 1e-6));
        var s3 = Guidance.ClassifierFree(net, context, nullContext, 3.0)(xT, t);
        Assert.True(s3.allclose(cond + (cond - uncond) * 3, rtol: 1e-6, atol: 1e-6));
        var s0 = Guidance.ClassifierFree(net, context, null, 0)(xT, t);
        Assert.True(Same(s0, cond));
        Assert.True(Same(Guidance.Combine(tensor(new[] { 2f }), tensor(new[] { 0.5f }), 1.0), tensor(new[] { 3.5f })));
    }

    [Fact]
    public void SamplingIsDeterministicForASeed()
    {
        var (net, context, _) = Problem();
        var nullContext = zeros(3, 2);
        var a = DiffusionSampler.Sample(net, context, nullContext, [2, 4, 4], SamplerOptions.Reference with { Steps = 10 }, seed: 5);
        var b = DiffusionSampler.Sample(net, context, nullContext, [2, 4, 4], SamplerOptions.Reference with { Steps = 10 }, seed: 5);
        var c = DiffusionSampler.Sample(net, context, nullContext, [2, 4, 4], SamplerOptions.Reference with { Steps = 10 }, seed: 6);
        Assert.Equal([4L, 2, 4, 4], a.shape);
        Assert.True(Same(a, b));
        Assert.False(Same(a, c));
    }

    [Fact]
    public void SchedulesMatchTheReferenceTables()
    {
        // paper-and-reference-code.md §6.2
        Assert.Equal(0.0, Sd.Betas[0]);
        Assert.Equal(0.00085, Sd.Betas[1], 1e-12);
        Assert.Equal(0.00089275, Sd.Betas[10], 1e-8);
        Assert.Equal(0.012, Sd.Betas[1000], 1e-12);
        Assert.Equal(0.89546277, Sd.AlphasCumprod[100], 1e-8);
        Assert.Equal(0.27766965, Sd.AlphasCumprod[500], 1e-8);
        Assert.Equal(0.00466010, Sd.AlphasCumprod[1000], 1e-8);
        Assert.Equal(0.733, Math.Log(Sd.AlphasCumprod[250] / Sd.OneMinusAlphasCumprod[250]), 1e-3);
        for (var n = 1; n <= 1000; n += 37) Assert.Equal(1 - Sd.AlphasCumprod[n], Sd.OneMinusAlphasCumprod[n], 1e-14);
        // The VP wrapper passes through ½·log ᾱ_k at t = k/1000 and inverts λ.
        foreach (var k in new[] { 1, 10, 250, 500, 1000 })
            Assert.Equal(0.5 * Math.Log(Sd.AlphasCumprod[k]), Vp.MarginalLogMeanCoeff(k / 1000f), 2e-5);
        foreach (var t in new[] { 0.001f, 0.0123f, 0.5f, 0.98002f, 1f })
            Assert.Equal(t, Vp.InverseLambda(Vp.MarginalLambda(t)), 2e-4);
        var grid = Vp.TimeGrid(1f, 1e-3f, 50, TimeSpacing.TimeUniform);
        Assert.Equal(51, grid.Length);
        Assert.Equal(1000f, Vp.ModelTime(grid[0]));
        Assert.Equal(980.02f, Vp.ModelTime(grid[1]), 1e-3f);
        Assert.Equal(1f, Vp.ModelTime(grid[^1]), 1e-4f);
        var logSnr = Vp.TimeGrid(1f, 1e-3f, 10, TimeSpacing.LogSnr).Select(Vp.MarginalLambda).ToArray();
        var steps = logSnr.Zip(logSnr.Skip(1), (a, b) => b - a).ToArray();
        Assert.True(steps.Max() - steps.Min() < 1e-3 * steps.Average(), "logSNR grid not uniform in λ");
    }

    [Fact]
    public void VelocityPredictingNetworksFollowTheSameOde()
    {
        // The oracle's v = (ε − σ·x)/α at the model's time: read as v, every sampler must land where the ε oracle does
        // (on the exact ODE solution); read as ε (the wrong reading), it must not.
        double VError(SamplerOptions o, Prediction reading)
        {
            var (net, context, xT) = Problem();
            var velocity = new VelocityOracle(net, Vp);
            var x = DiffusionSampler.Run(Guidance.ClassifierFree(velocity, context, null, 0), xT, o, Sd, reading);
            var exact = net.ExactOdeSolution(xT, context, 1.0f, 1e-3f);
            return (x.to(ScalarType.Float64) - exact).abs().max().item<double>() / exact.abs().max().item<double>();
        }
        var fast = VError(SamplerOptions.Reference, Prediction.Velocity);
        var logSnr = VError(SamplerOptions.Reference with { Steps = 24, Spacing = TimeSpacing.LogSnr }, Prediction.Velocity);
        var ddim = VError(SamplerOptions.Ddim(999), Prediction.Velocity);
        output.WriteLine($"v-prediction: fast-50 {fast:E2}, fast-24 logSNR {logSnr:E2}, DDIM-999 {ddim:E2}");
        Assert.True(fast < 1.5e-2, $"fast-50 error {fast}");
        Assert.True(logSnr < 2e-4, $"fast-24 (logSNR) error {logSnr}");
        Assert.True(ddim < 3e-3, $"DDIM-999 error {ddim}");
        Assert.True(VError(SamplerOptions.Reference, Prediction.Epsilon) > 0.1, "a v network read as ε must not sample correctly");
    }

    [Fact]
    public void TheLinearScheduleIsDdpms()
    {
        var linear = DiscreteSchedule.Linear();
        Assert.Equal(1e-4, linear.Betas[1], 1e-15);
        Assert.Equal(0.02, linear.Betas[1000], 1e-15);
        Assert.Equal(1e-4 + 500 * (0.02 - 1e-4) / 999, linear.Betas[501], 1e-12);
        var product = 1.0;
        for (var i = 0; i < 1000; i++) product *= 1 - (1e-4 + i * (0.02 - 1e-4) / 999);
        Assert.Equal(product, linear.TerminalAlphaBar, 1e-12);
        Assert.InRange(linear.TerminalAlphaBar, 4.0e-5, 4.1e-5);   // DDPM's ᾱ_T; Stable Diffusion's keeps ≈ 0.0047
        Assert.Equal(0.0046601, Sd.TerminalAlphaBar, 1e-7);
        Assert.Same(typeof(DiscreteSchedule), DiscreteSchedule.Of(BetaSchedule.Linear, 1000, 1e-4, 0.02).GetType());
        Assert.Equal(linear.AlphasCumprod, DiscreteSchedule.Of(BetaSchedule.Linear, 1000, 1e-4, 0.02).AlphasCumprod);
        Assert.Equal(Sd.AlphasCumprod, DiscreteSchedule.Of(BetaSchedule.ScaledLinear, 1000, 0.00085, 0.012).AlphasCumprod);
    }
}

/// <summary>The v-predictor of <see cref="GaussianOracle"/>'s problem: v = α·ε − σ·x̂0 = (ε − σ·x)/α at t = modelTime/N.</summary>
public sealed class VelocityOracle(GaussianOracle eps, VPSchedule schedule) : TorchSharp.torch.nn.Module<Tensor, Tensor, Tensor, Tensor>(nameof(VelocityOracle))
{
    public override Tensor forward(Tensor x, Tensor modelTime, Tensor context)
    {
        var ts = modelTime.to(ScalarType.Float32).data<float>().ToArray();
        var view = new long[] { -1 }.Concat(Enumerable.Repeat(1L, (int)x.dim() - 1)).ToArray();
        var a = tensor(ts.Select(t => schedule.MarginalAlpha(t / schedule.N)).ToArray()).view(view);
        var s = tensor(ts.Select(t => schedule.MarginalStd(t / schedule.N)).ToArray()).view(view);
        return (eps.forward(x, modelTime, context) - s * x) / a;
    }
}
