using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Metrics;

/// <summary>
/// `fusion bench metrics`: FID of N×D random features end to end — streaming float64 statistics of the generated
/// features plus the Fréchet distance against reference statistics (which a real run loads from .npz; their load time
/// is reported too). Options: n (30000), dim (2048), batch (500: rows per Add call), threads (torch's default).
/// </summary>
public static class MetricsBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        var n = int.Parse(options.GetValueOrDefault("n", "30000"));
        var dim = int.Parse(options.GetValueOrDefault("dim", "2048"));
        var batch = int.Parse(options.GetValueOrDefault("batch", "500"));
        if (options.TryGetValue("threads", out var threads)) TorchThreads.Set(int.Parse(threads));
        var gen = new Generator(0);
        // Inception pool3 features are non-negative (post-ReLU averages): uniform [0, 1) float32 is a fair stand-in.
        using var generated = rand([n, dim], generator: gen);
        using var reference = ActivationStatistics.Of(rand([n, dim], generator: gen).Times(1.1));

        // CPU seconds too: on a shared machine wall time mostly measures the neighbours.
        var process = Process.GetCurrentProcess();
        TimeSpan Cpu() { process.Refresh(); return process.TotalProcessorTime; }
        var cpu0 = Cpu();
        var sw = Stopwatch.StartNew();
        using var acc = new ActivationAccumulator(dim);
        for (var i = 0; i < n; i += batch) acc.Add(generated.narrow(0, i, Math.Min(batch, n - i)));
        using var stats = acc.Compute();
        var statsSeconds = sw.Elapsed.TotalSeconds;
        var cpu1 = Cpu();
        sw.Restart();
        var fid = FrechetDistance.Compute(stats, reference);
        var frechetSeconds = sw.Elapsed.TotalSeconds;
        var cpu2 = Cpu();
        sw.Restart();
        var fidEigh = FrechetDistance.Compute(stats, reference, FrechetSqrtMethod.Eigh);
        var eighSeconds = sw.Elapsed.TotalSeconds;
        var cpu3 = Cpu();

        var path = Path.Combine(Path.GetTempPath(), $"fusion-bench-{Guid.NewGuid():N}.npz");
        try
        {
            reference.SaveNpz(path);
            sw.Restart();
            using var loaded = ActivationStatistics.LoadNpz(path);
            var loadSeconds = sw.Elapsed.TotalSeconds;
            yield return ($"statistics of {n}×{dim} float32 features (float64, batch {batch})", statsSeconds, "s");
            yield return ("  CPU time of the statistics", (cpu1 - cpu0).TotalSeconds, "s");
            yield return ($"Fréchet distance, {dim}-d (Cholesky + eigvalsh, float64)", frechetSeconds, "s");
            yield return ("  CPU time of the Fréchet distance", (cpu2 - cpu1).TotalSeconds, "s");
            yield return ($"Fréchet distance, {dim}-d (eigh + eigvalsh, float64)", eighSeconds, "s");
            yield return ("  CPU time of the Fréchet distance (eigh)", (cpu3 - cpu2).TotalSeconds, "s");
            yield return ("FID end to end (statistics + Fréchet distance)", statsSeconds + frechetSeconds, "s");
            yield return ("  CPU time end to end", (cpu2 - cpu0).TotalSeconds, "s");
            yield return ("|FID(Cholesky) − FID(eigh)| / FID", Math.Abs(fid - fidEigh) / fid, "");
            yield return ("reference statistics .npz load", loadSeconds, "s");
            yield return ("FID value (sanity: random features)", fid, "");
        }
        finally { File.Delete(path); }
    }
}
