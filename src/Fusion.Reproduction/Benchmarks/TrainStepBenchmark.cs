using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Modeling;
using Fusion.Reproduction.Stages;

namespace Fusion.Reproduction.Benchmarks;

/// <summary>
/// `fusion bench trainstep`: train steps/s of the four fusion variants at U-ViT-S/2 (latent moments, 77×768 contexts)
/// or the shapes pipeline's tiny config, on any device, through the same code the measure stage uses. Options:
/// device (cpu|cuda), config (s2|shapes), batch, warmup, steps, precision (float32|bf16), c, v, peak_tflops, guard
/// (auto|host|device: where the finite-update guard runs, <see cref="TrainConfig.DeviceGuard"/>; auto = on the device on a GPU).
/// Each variant also gets images/s and MFU: training FLOPs (3 × the exact forward MACs × 2) per second over the peak —
/// <c>peak_tflops</c> when given (e.g. 989 for an H200's dense bf16), else this device's measured 1024³ matmul rate.
/// </summary>
public static class TrainStepBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        string Opt(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
        var device = Opt("device", "cpu");
        var s2 = Opt("config", "s2") == "s2";
        var batch = int.Parse(Opt("batch", s2 ? "8" : "32"));
        var warmup = int.Parse(Opt("warmup", "2"));
        var steps = int.Parse(Opt("steps", "5"));
        var precision = Opt("precision", "float32") == "bf16" ? TrainPrecision.BFloat16Mixed : TrainPrecision.Float32;
        var (c, v) = (int.Parse(Opt("c", s2 ? "3" : "1")), int.Parse(Opt("v", s2 ? "3" : "1")));
        bool? deviceGuard = Opt("guard", "auto") switch
        {
            "auto" => null,
            "host" => false,
            "device" => true,
            var other => throw new ArgumentException($"guard must be auto, host or device, got '{other}'"),
        };
        var results = new Dictionary<string, double>();
        var (peak, peakBasis) = options.TryGetValue("peak_tflops", out var given)
            ? (double.Parse(given, System.Globalization.CultureInfo.InvariantCulture) * 1000, "stated peak")
            : (TrainProfileBenchmark.MatmulGflops(1024, precision == TrainPrecision.BFloat16Mixed ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32,
                Fusion.Models.TorchEnvironment.ResolveDevice(device)), "measured 1024³ matmul");
        yield return ($"peak for MFU ({peakBasis})", peak, "GFLOP/s");
        foreach (var family in Enum.GetValues<FusionVariant>())
        {
            var p = s2
                ? new UViTParams { Variant = family, C = c, V = v }
                : new UViTParams { Variant = family, C = c, V = v, PatchSize = 4, EmbedDim = 64, Depth = 4, NumHeads = 4 };
            var config = s2 ? p.ToConfig(4, 32, 77, 768) : p.ToConfig(3, 32, 16, 64);
            var kind = s2 ? BatchKind.Moments : BatchKind.Samples;
            var name = family.Name();
            results[name] = VariantTimer.TimeTrainSteps(config, kind, batch, precision, device, warmup, steps, deviceGuard: deviceGuard);
            yield return ($"{(s2 ? "S/2" : "shapes")} {config.Fusion} train steps/s (batch {batch}, {precision}, {device})", results[name], "step/s");
            var gmacs = UViTFlops.Forward(config).GMacsWithAttention;
            yield return ($"{(s2 ? "S/2" : "shapes")} {config.Fusion} forward GMACs (batch 1)", gmacs, "GMAC");
            yield return ($"{(s2 ? "S/2" : "shapes")} {config.Fusion} images/s", results[name] * batch, "img/s");
            yield return ($"{(s2 ? "S/2" : "shapes")} {config.Fusion} MFU", 100 * results[name] * batch * 3 * 2 * gmacs / peak, "%");
        }
        foreach (var (inter, early) in Fusion.Reproduction.Report.Claims.HeadlinePairs.Concat(Fusion.Reproduction.Report.Claims.WithinMethodPairs).Distinct())
            yield return ($"speed {inter} / {early}", results[inter] / results[early], "ratio");
    }
}
