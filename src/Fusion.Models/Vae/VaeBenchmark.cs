using System.Globalization;
using Fusion.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Vae;

/// <summary>
/// `fusion bench vae`: images/s of the full SD KL-f8 autoencoder (random weights, no grad) encoding 256² images to
/// moments and decoding 32² latents, in fp32 and bf16. Options: batch (default 2), iters (timed calls after one
/// warm-up, default 1), size (default 256), dtypes (default "fp32,bf16").
/// </summary>
public static class VaeBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        int Option(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var batch = Option("batch", 2);
        var iters = Option("iters", 1);
        var size = Option("size", 256);
        var dtypes = options.TryGetValue("dtypes", out var d) ? d.Split(',') : ["fp32", "bf16"];
        using var model = TorchRandom.Seeded(0, () => new AutoencoderKL(AutoencoderKLConfig.KlF8()));
        using var g = new Generator(0);
        model.eval();
        var f = model.Config.DownsamplingFactor;
        foreach (var name in dtypes)
        {
            var dtype = BenchTiming.ParseDtype(name);
            model.to(dtype);
            using var images = rand([batch, 3, size, size], generator: g).Times(2).Minus(1).to(dtype);
            using var latents = randn([batch, model.Config.EmbedDim, size / f, size / f], generator: g).to(dtype);
            var encode = BenchTiming.SecondsPerCall(() => model.EncodeMoments(images), iters);
            yield return ($"KL-f8 encode {size}² {name}, batch {batch}", batch / encode, "images/s");
            var decode = BenchTiming.SecondsPerCall(() => model.Decode(latents), iters);
            yield return ($"KL-f8 decode {size}² {name}, batch {batch}", batch / decode, "images/s");
        }
    }
}
