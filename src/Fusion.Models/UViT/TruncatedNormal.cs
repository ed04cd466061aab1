using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// timm's / PyTorch's trunc_normal_ (inverse-CDF method: uniform in [2Φ(a')−1, 2Φ(b')−1], erfinv, × std·√2, + mean,
/// clamp to [a, b]), drawing from the RNG exactly as PyTorch does. Needed because TorchSharp 0.107's
/// nn.init.trunc_normal_ multiplies by the mean and adds the std (every value becomes the std).
/// </summary>
public static class TruncatedNormal
{
    public static Tensor Fill(Tensor tensor, double mean = 0, double std = 1, double a = -2, double b = 2)
    {
        using var _ = no_grad();
        double lower = NormalCdf((a - mean) / std), upper = NormalCdf((b - mean) / std);
        tensor.uniform_(2 * lower - 1, 2 * upper - 1);
        tensor.erfinv_();
        using var scale = (std * Math.Sqrt(2.0)).ToScalar();
        tensor.mul_(scale);
        tensor.PlusInPlace(mean);
        using var lo = a.ToScalar();
        using var hi = b.ToScalar();
        tensor.clamp_(lo, hi);
        return tensor;
    }

    private static double NormalCdf(double x)
    {
        using var t = tensor(x / Math.Sqrt(2.0), dtype: ScalarType.Float64);
        using var erf = special.erf(t);
        return (1.0 + erf.item<double>()) / 2.0;
    }
}
