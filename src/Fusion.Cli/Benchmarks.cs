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

/// <summary>The benchmarks `fusion bench` runs, by their command-line name: the class name without "Benchmark", in lower case.</summary>
public static class Benchmarks
{
    public static readonly IReadOnlyDictionary<string, BenchmarkRun> All = new BenchmarkRun[]
    {
        BlobBenchmark.Run, ChaosBenchmark.Run, ClipBenchmark.Run, ConvBenchmark.Run, DatasetsBenchmark.Run, DiffusionBenchmark.Run,
        EngineBenchmark.Run, InceptionBenchmark.Run, MetricsBenchmark.Run, TrainProfileBenchmark.Run, TrainStepBenchmark.Run,
        UViTBenchmark.Run, VaeBenchmark.Run, VerifyBenchmark.Run,
    }.ToDictionary(run => run.Method.DeclaringType!.Name[..^"Benchmark".Length].ToLowerInvariant(), StringComparer.OrdinalIgnoreCase);
}
