using static TorchSharp.torch;
using Denoiser = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Fusion.Models.Diffusion;

/// <summary>Sampling entry point: noise from a seed, guidance, then the chosen solver.</summary>
public static class DiffusionSampler
{
    /// <summary>
    /// Samples one item per context row. x_T ~ N(0, I) of shape [B, …<paramref name="sampleShape"/>] comes from a CPU
    /// torch.Generator seeded with <paramref name="seed"/> (so the result depends on the seed alone, on any device) and is
    /// moved to the context's device. Returns the float32 sample (a scaled latent for latent models).
    /// </summary>
    /// <param name="net">ε-prediction network (e.g. the EMA model); float32 or bfloat16 parameters.</param>
    /// <param name="context">[B, L, D] caption contexts.</param>
    /// <param name="nullContext">The null-caption context [L, D]; required unless GuidanceScale is 0.</param>
    public static Tensor Sample(Denoiser net, Tensor context, Tensor? nullContext, long[] sampleShape, SamplerOptions options,
        long seed, DiscreteSchedule? schedule = null, Prediction prediction = Prediction.Epsilon)
    {
        schedule ??= DiscreteSchedule.StableDiffusion();
        using var generator = new Generator((ulong)seed);
        using var noise = randn([context.shape[0], .. sampleShape], generator: generator);
        using var xT = noise.to(context.device);
        var eps = Guidance.ClassifierFree(net, context, nullContext?.to(context.device), options.GuidanceScale);
        return Run(eps, xT, options, schedule, prediction);
    }

    /// <summary>Runs the sampler of <paramref name="options"/> from <paramref name="xT"/> with any noise predictor.</summary>
    public static Tensor Run(EpsModel eps, Tensor xT, SamplerOptions options, DiscreteSchedule schedule, Prediction prediction = Prediction.Epsilon) => options.Kind switch
    {
        SamplerKind.Ddim => Ddim.Sample(eps, xT, schedule, options, prediction),
        _ => new DpmSolver(VPSchedule.From(schedule), prediction).Sample(eps, xT, options),
    };
}
