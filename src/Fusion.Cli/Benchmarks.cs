using Fusion.Artifacts.Benchmarks;
using Fusion.Artifacts.Blob;
using Fusion.Datasets;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Diffusion;
using Fusion.Models.Inception;
using Fusion.Models.Metrics;
using Fusion.Models.UViT;
using Fusion.Models.Vae;
using Fusion.Reproduction.Benchmarks;
using Fusion.Workflow.Benchmarks;

namespace Fusion.Cli;

/// <summary>One benchmark: options (<c>-s key=value</c>) in, rows of (metric, value, unit) out.</summary>
public delegate IEnumerable<(string Metric, double Value, string Unit)> BenchmarkRun(IReadOnlyDictionary<string, string> options);

/// <summary>The benchmarks `fusion bench` runs, by their command-line name.</summary>
public static class Benchmarks
{
    public static readonly IReadOnlyDictionary<string, BenchmarkRun> All = new Dictionary<string, BenchmarkRun>(StringComparer.OrdinalIgnoreCase)
    {
        ["blob"] = BlobBenchmark.Run,
        ["chaos"] = ChaosBenchmark.Run,
        ["clip"] = ClipBenchmark.Run,
        ["conv"] = ConvBenchmark.Run,
        ["datasets"] = DatasetsBenchmark.Run,
        ["diffusion"] = DiffusionBenchmark.Run,
        ["engine"] = EngineBenchmark.Run,
        ["inception"] = InceptionBenchmark.Run,
        ["metrics"] = MetricsBenchmark.Run,
        ["trainprofile"] = TrainProfileBenchmark.Run,
        ["trainstep"] = TrainStepBenchmark.Run,
        ["uvit"] = UViTBenchmark.Run,
        ["vae"] = VaeBenchmark.Run,
        ["verify"] = VerifyBenchmark.Run,
    };
}
