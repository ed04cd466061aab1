using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>
/// `fusion bench clip`: captions/s through the ViT-L/14 text encoder (random weights, 77 tokens, no grad) in fp32 and
/// bf16. Options: batch (default 8), iters (timed forwards after one warm-up, default 3), dtypes (default "fp32,bf16").
/// </summary>
public static class ClipBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        var batch = Option(options, "batch", 8);
        var iters = Option(options, "iters", 3);
        var dtypes = options.TryGetValue("dtypes", out var d) ? d.Split(',') : ["fp32", "bf16"];
        using var model = TorchRandom.Seeded(0, () => new ClipTextModel(ClipConfig.ViTL14));
        model.eval();
        using var g = new Generator(0);
        using var ids = randint(0, 49406, [batch, 77], generator: g);
        ids[TensorIndex.Colon, 76] = tensor(49407L);
        foreach (var name in dtypes)
        {
            var dtype = BenchTiming.ParseDtype(name);
            model.to(dtype);
            var seconds = BenchTiming.SecondsPerCall(() => model.forward(ids), iters);
            yield return ($"ViT-L/14 text encoder {name}, batch {batch}", batch / seconds, "captions/s");
        }
    }

    private static int Option(IReadOnlyDictionary<string, string> o, string key, int fallback) =>
        o.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Timing helpers shared by the CLIP and VAE benchmarks.</summary>
public static class BenchTiming
{
    public static ScalarType ParseDtype(string name) => name.Trim() switch
    {
        "fp32" or "float32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"unknown dtype '{name}' (fp32 or bf16)"),
    };

    /// <summary>Mean wall seconds of <paramref name="iters"/> no-grad calls after one warm-up call.</summary>
    public static double SecondsPerCall(Func<Tensor> call, int iters)
    {
        using var _ = no_grad();
        call().Dispose();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < iters; i++) call().Dispose();
        return sw.Elapsed.TotalSeconds / Math.Max(iters, 1);
    }
}
