using Fusion.Models;
using Fusion.Models.Metrics;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Statistics;

/// <summary>
/// FID on a bootstrap resample: the generated samples' features are resampled (the reference statistics stay fixed),
/// their mean and covariance (N − 1, as np.cov) recomputed, and the Fréchet distance taken again.
/// </summary>
public sealed class FidBootstrap(Tensor features, ActivationStatistics reference, Device device) : IDisposable
{
    // float64 on the device: a resample's covariance is one [D, N] × [N, D] product there.
    private readonly Tensor rows = features.to(float64, device).DetachFromDisposeScope();

    public double Fid(int[] indices)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = rows.index_select(0, tensor(indices.Select(i => (long)i).ToArray()).to(rows.device));
        var mean = x.mean([0]);
        var centred = x - mean;
        var cov = centred.t().mm(centred).Over(indices.Length - 1);
        return FrechetDistance.Compute(mean, cov, reference.Mean, reference.Covariance);
    }

    public void Dispose() => rows.Dispose();
}
