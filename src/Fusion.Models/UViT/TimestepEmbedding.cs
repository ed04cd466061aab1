using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>U-ViT's sinusoidal timestep embedding (max period 10000), [cos | sin], computed in float32 as the reference.</summary>
public static class TimestepEmbedding
{
    /// <summary>[B] timesteps (any numeric dtype; fractional allowed) → [B, dim] float32.</summary>
    public static Tensor Sinusoidal(Tensor timesteps, int dim, double maxPeriod = 10000)
    {
        if (timesteps.dim() != 1) throw new ArgumentException($"timesteps must have shape [B], got [{string.Join(", ", timesteps.shape)}]");
        using var scope = NewDisposeScope();
        int half = dim / 2;
        // Same op order as the reference so the float32 rounding of the frequencies is identical.
        using var start = 0.ToScalar();
        using var stop = half.ToScalar();
        var freqs = arange(start, stop, dtype: ScalarType.Float32).Times(-Math.Log(maxPeriod)).Over(half).exp().to(timesteps.device);
        var args = timesteps.to_type(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var embedding = cat([args.cos(), args.sin()], -1);
        if (dim % 2 == 1) embedding = cat([embedding, zeros_like(embedding.narrow(1, 0, 1))], -1);
        return embedding.MoveToOuterDisposeScope();
    }
}
