using static TorchSharp.torch;
using Denoiser = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Fusion.Models.Diffusion;

/// <summary>
/// A noise predictor as the samplers see it: ε̂ for x [B, …] (float32) at the network's time scale
/// (<paramref name="modelTime"/> float32 [B]: the training step n, or N·t in continuous time). Returns float32.
/// </summary>
public delegate Tensor EpsModel(Tensor x, Tensor modelTime);

/// <summary>Classifier-free guidance as the reference applies it (§7.3).</summary>
public static class Guidance
{
    /// <summary>ε̂ = ε_c + s·(ε_c − ε_u) (the reference's convention: s = 1 means w = 2 in ε_u + w(ε_c − ε_u)).</summary>
    public static Tensor Combine(Tensor epsCond, Tensor epsUncond, double scale) => epsCond.Plus((epsCond - epsUncond).Times(scale));

    /// <summary>
    /// Wraps <paramref name="net"/> (in eval mode, no gradients) with guidance scale <paramref name="scale"/>: one forward over
    /// the doubled batch [x; x] with contexts [c; c_∅] (scale 0: the conditional pass only). Inputs are cast to the
    /// network's parameter dtype (so a bfloat16 copy samples in bfloat16) except the float32 time; outputs come back float32.
    /// </summary>
    /// <param name="context">[B, L, D] caption contexts.</param>
    /// <param name="nullContext">[L, D] or [1, L, D] (or [B, L, D]) null-caption context; needed when scale ≠ 0.</param>
    public static EpsModel ClassifierFree(Denoiser net, Tensor context, Tensor? nullContext, double scale)
    {
        if (scale != 0 && nullContext is null) throw new ArgumentException($"guidance scale {scale} needs a null context");
        var dtype = net.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
        var b = context.shape[0];
        Tensor? uncond = null;
        if (scale != 0)
        {
            var nc = nullContext!.dim() == 2 ? nullContext.unsqueeze(0) : nullContext;
            if (!nc.shape.Skip(1).SequenceEqual(context.shape.Skip(1)) || (nc.shape[0] != 1 && nc.shape[0] != b))
                throw new ArgumentException($"null context [{string.Join(", ", nullContext.shape)}] does not fit context [{string.Join(", ", context.shape)}]");
            uncond = nc.expand(context.shape);
        }
        return (x, t) =>
        {
            if (x.shape[0] != b) throw new ArgumentException($"x has batch {x.shape[0]}, context {b}");
            using var _ = no_grad();
            net.eval();
            if (uncond is null) return net.call(x.to(dtype), t.to(ScalarType.Float32), context.to(dtype)).to(ScalarType.Float32);
            using var scope = NewDisposeScope();
            var both = net.call(cat([x, x]).to(dtype), cat([t, t]).to(ScalarType.Float32), cat([context, uncond]).to(dtype)).to(ScalarType.Float32);
            var halves = both.chunk(2, 0);
            return Combine(halves[0], halves[1], scale).MoveToOuterDisposeScope();
        };
    }
}
