using Fusion.Artifacts.Tables;
using Fusion.Models.Metrics;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Coco;

/// <summary>
/// FID statistics in the artifact store: <see cref="ActivationStatistics"/> ↔ our Parquet <see cref="StatisticsTable"/>
/// (float64, lossless). Published statistics arrive as pytorch-fid .npz and are stored in this form, so every consumer
/// reads one format.
/// </summary>
public static class FidStatistics
{
    public static Task WriteAsync(string path, ActivationStatistics stats, IReadOnlyDictionary<string, string>? metadata = null, CancellationToken ct = default) =>
        StatisticsTable.WriteAsync(path, new GaussianStatistics(stats.Mean.data<double>().ToArray(), stats.Covariance.contiguous().data<double>().ToArray(), stats.Count),
            metadata, ct);

    public static async Task<ActivationStatistics> ReadAsync(string path, CancellationToken ct = default)
    {
        var (s, _) = await StatisticsTable.ReadAsync(path, ct);
        using var mean = tensor(s.Mean, [s.Dim], ScalarType.Float64);
        using var cov = tensor(s.Covariance, [s.Dim, s.Dim], ScalarType.Float64);
        return new ActivationStatistics(mean, cov, s.Count);
    }
}
