using Fusion.Models.Diffusion;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Fusion.Tests.Diffusion;

/// <summary>
/// The exact ε-predictor for data x0 ~ N(μ, s²·I) where μ = mean of the sample's context: with x_t = α x0 + σ ε,
/// E[ε | x_t] = σ (x_t − α μ) / (α² s² + σ²). α, σ come from the VP schedule at t = modelTime / N. The probability-flow
/// ODE then maps x_T to x_t affinely (<see cref="ExactOdeSolution"/>), so samplers have a closed-form answer.
/// </summary>
public sealed class GaussianOracle(VPSchedule schedule, double dataStd) : Module<Tensor, Tensor, Tensor, Tensor>(nameof(GaussianOracle))
{
    public int Calls { get; private set; }
    public long LastBatch { get; private set; }

    public override Tensor forward(Tensor x, Tensor modelTime, Tensor context)
    {
        Calls++;
        LastBatch = x.shape[0];
        var ts = modelTime.to(ScalarType.Float32).data<float>().ToArray();
        var alpha = ts.Select(t => (double)schedule.MarginalAlpha(t / schedule.N)).ToArray();
        var sigma = ts.Select(t => (double)schedule.MarginalStd(t / schedule.N)).ToArray();
        var view = new long[] { -1 }.Concat(Enumerable.Repeat(1L, (int)x.dim() - 1)).ToArray();
        var a = tensor(alpha).to(ScalarType.Float32).view(view);
        var s = tensor(sigma).to(ScalarType.Float32).view(view);
        var mu = Mean(context).view(view);
        var v = a * a * (float)(dataStd * dataStd) + s * s;
        return (s * (x.to(ScalarType.Float32) - a * mu) / v).to(x.dtype);
    }

    public static Tensor Mean(Tensor context) => context.to(ScalarType.Float32).mean([1, 2]);

    /// <summary>x at t_end from x at t_start along the exact probability-flow ODE (float64).</summary>
    public Tensor ExactOdeSolution(Tensor xStart, Tensor context, float tStart, float tEnd)
    {
        double aS = schedule.MarginalAlpha(tStart), sS = schedule.MarginalStd(tStart);
        double aE = schedule.MarginalAlpha(tEnd), sE = schedule.MarginalStd(tEnd);
        var view = new long[] { -1 }.Concat(Enumerable.Repeat(1L, (int)xStart.dim() - 1)).ToArray();
        var mu = Mean(context).to(ScalarType.Float64).view(view);
        var v2 = dataStd * dataStd;
        var scale = Math.Sqrt(aE * aE * v2 + sE * sE) / Math.Sqrt(aS * aS * v2 + sS * sS);
        return mu * aE + (xStart.to(ScalarType.Float64) - mu * aS) * scale;
    }
}

/// <summary>
/// A small trainable ε-predictor (an MLP whose hidden layer is scaled and shifted by time and context, with a residual) whose initialisation comes from its own
/// generator, independent of the global RNG (tests run in parallel). Works in float32 and bfloat16.
/// Optionally returns NaN from its <c>nanAtCall</c>-th forward (1-based) to test non-finite-loss handling, or, from its
/// <c>nanGradientAtCall</c>-th, a finite output whose backward gives <c>fc_out.bias</c> a NaN gradient: at that call only
/// (a transient fault), or from it on when <c>faultPersists</c>.
/// </summary>
public sealed class TinyDenoiser : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear fc_in, film, fc_mid, fc_out;
    private readonly int _timeDim;
    private readonly int? _nanAtCall, _nanGradientAtCall;
    private readonly bool _faultPersists;
    private int _calls;

    public TinyDenoiser(int features, int contextDim, int hidden = 64, int timeDim = 16, long seed = 7, int? nanAtCall = null, int? nanGradientAtCall = null, bool faultPersists = false)
        : base(nameof(TinyDenoiser))
    {
        _faultPersists = faultPersists;
        _timeDim = timeDim;
        _nanAtCall = nanAtCall;
        _nanGradientAtCall = nanGradientAtCall;
        fc_in = Linear(features, hidden);
        film = Linear(timeDim + contextDim, 2 * hidden);
        fc_mid = Linear(hidden, hidden);
        fc_out = Linear(hidden, features);
        RegisterComponents();
        using var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
            if (name.EndsWith("bias")) p.zero_();
            else p.copy_(randn(p.shape, generator: g) / Math.Sqrt(p.shape[1]));
    }

    public override Tensor forward(Tensor x, Tensor t, Tensor context)
    {
        _calls++;
        var shape = x.shape;
        var temb = TransformerDenoiser.Sinusoid(t / 100, _timeDim).to(x.dtype);
        var cond = film.call(cat([temb, context.mean([1])], 1)).chunk(2, 1);
        var h = fc_in.call(x.flatten(1)) * (cond[0] + 1) + cond[1]; // affine in x for a given time and context
        var y = fc_out.call(h + functional.silu(fc_mid.call(h))).reshape(shape);
        if (Faulty(_nanGradientAtCall)) y = y + (fc_out.bias! * 0).abs().sqrt().sum();   // adds 0; d/db = sign(0)·∞ = NaN
        return Faulty(_nanAtCall) ? y * float.NaN : y;
    }

    private bool Faulty(int? fromCall) => fromCall is { } n && (_faultPersists ? _calls >= n : _calls == n);
}
