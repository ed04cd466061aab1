using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Inception;

/// <summary>
/// `fusion bench inception`: pool3 features per second of the FID Inception (formula weights) on 256×256 images in
/// [0,1] (resized to 299² inside, as for U-ViT samples), per wall second and per CPU second (on a shared machine the
/// wall clock mostly measures the neighbours), in float32 and bfloat16, plus how far bf16 features drift.
/// Options: batch (8), iters (2), dtypes (fp32,bf16), threads (torch's default).
/// </summary>
public static class InceptionBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        var batch = int.Parse(options.GetValueOrDefault("batch", "8"));
        var iters = int.Parse(options.GetValueOrDefault("iters", "2"));
        if (options.TryGetValue("threads", out var threads)) TorchThreads.Set(int.Parse(threads));
        var dtypes = options.GetValueOrDefault("dtypes", "fp32,bf16").Split(',', StringSplitOptions.TrimEntries);
        using var model = TorchRandom.Unseeded(() => new FidInceptionV3());
        FormulaWeights.Fill(model);
        using var images = rand([batch, 3, 256, 256], generator: new Generator(0));

        Tensor? reference = null;
        foreach (var name in dtypes)
        {
            model.to(name switch
            {
                "fp32" => ScalarType.Float32, "bf16" => ScalarType.BFloat16,
                _ => throw new ArgumentException($"dtypes: unknown '{name}' (fp32, bf16)"),
            });
            var (wall, cpu, features) = Measure(model, images, iters);
            yield return ($"images/s, {name}, batch {batch}, 256² → 299²", wall, "img/s");
            yield return ($"images per CPU-second, {name}", cpu, "img/CPU-s");
            if (reference is null) reference = features;
            else
            {
                using var rel = (features - reference).norm() / reference.norm();
                yield return ($"{name} vs {dtypes[0]} pool3 relative L2 difference", rel.item<float>(), "");
                features.Dispose();
            }
        }
        reference?.Dispose();
    }

    private static (double Wall, double Cpu, Tensor Features) Measure(FidInceptionV3 model, Tensor images, int iters)
    {
        model.Features(images[..1]).Dispose(); // warm-up (oneDNN primitive creation)
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var features = model.Features(images);
        for (var i = 1; i < iters; i++) model.Features(images).Dispose();
        var seconds = sw.Elapsed.TotalSeconds;
        process.Refresh();
        var cpuSeconds = (process.TotalProcessorTime - cpu0).TotalSeconds;
        return (iters * images.shape[0] / seconds, iters * images.shape[0] / cpuSeconds, features);
    }
}
