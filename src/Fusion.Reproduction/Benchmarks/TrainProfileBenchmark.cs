using System.Diagnostics;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Benchmarks;

/// <summary>
/// `fusion bench trainprofile`: where one training step's time goes, phase by phase (forward + ε-MSE, backward, AdamW,
/// EMA), for U-ViT-S/2 (config=s2) or the shapes model (config=shapes), next to this CPU's GEMM rate (1024³ matmul) in
/// the same precision, which bounds a step from below: a step is ≈ 3 forward passes of GEMMs. Options: variant
/// (default intermediate-cross), config, batch, warmup, steps, precision (float32|bf16), c, v, device.
/// Phases are timed one after another in the same step, so they add up to the step.
/// </summary>
public static class TrainProfileBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        string Opt(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
        var s2 = Opt("config", "s2") == "s2";
        var batch = int.Parse(Opt("batch", s2 ? "8" : "32"));
        var warmup = int.Parse(Opt("warmup", "2"));
        var steps = int.Parse(Opt("steps", "5"));
        var bf16 = Opt("precision", "float32") == "bf16";
        var device = TorchEnvironment.ResolveDevice(Opt("device", "cpu"));
        var (c, v) = (int.Parse(Opt("c", s2 ? "3" : "1")), int.Parse(Opt("v", s2 ? "3" : "1")));
        var family = FusionVariants.Parse(Opt("variant", "intermediate-cross"));
        var p = s2 ? new UViTParams { Variant = family, C = c, V = v }
            : new UViTParams { Variant = family, C = c, V = v, PatchSize = 4, EmbedDim = 64, Depth = 4, NumHeads = 4 };
        var config = s2 ? p.ToConfig(4, 32, 77, 768) : p.ToConfig(3, 32, 16, 64);

        var master = TorchRandom.Seeded(1, () => new UViT(config)).to(device);
        var ema = TorchRandom.Unseeded(() => new UViT(config)).to(device);
        Ema.Update(ema, master, 0);
        var compute = bf16 ? TorchRandom.Unseeded(() => new UViT(config)).to(ScalarType.BFloat16).to(device) : master;
        using var masterFlat = FlatParameters.Of(master);
        using var emaFlat = FlatParameters.Of(ema);
        using var computeFlat = bf16 ? FlatParameters.Of(compute) : null;
        var computeParams = computeFlat ?? masterFlat;
        using var adam = new AdamW(masterFlat, 0.9, 0.9, 1e-8, 0.03);
        using var gradFloat32 = zeros_like(masterFlat.Values);
        var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        using var gen = new Generator(7);
        using var x = randn([batch, config.InChannels, config.ImageSize, config.ImageSize], generator: gen).to(device);
        using var eps = randn([batch, config.InChannels, config.ImageSize, config.ImageSize], generator: gen).to(device);
        using var ctx = randn([batch, config.NumClipTokens, config.ClipDim], generator: gen).to(device);
        using var t = randint(1, 1000, [batch], generator: gen).to(ScalarType.Float32).to(device);

        var phases = new[] { "forward + loss", "backward", "AdamW (+ bf16 copy)", "EMA" };
        var times = phases.ToDictionary(ph => ph, _ => new List<double>());
        void Sync() { if (device.type == DeviceType.CUDA) cuda.synchronize(); }
        for (var i = 0; i < warmup + steps; i++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            double Lap() { Sync(); var s = clock.Elapsed.TotalSeconds; clock.Restart(); return s; }
            compute.train();
            computeParams.ZeroGradients();
            var loss = (eps - compute.call(x.to(dtype), t, ctx.to(dtype)).to(ScalarType.Float32)).square().mean();
            var forward = Lap();
            loss.backward();
            computeParams.AdoptGradients();
            var backward = Lap();
            using (no_grad())
            {
                // bf16: a float32 copy of the gradients into a buffer kept across steps, as the trainer does.
                adam.Step(bf16 ? gradFloat32.copy_(computeParams.Gradients!) : computeParams.Gradients!, 1e-4);
                if (bf16) computeFlat!.Values.copy_(masterFlat.Values);
            }
            var optimizer = Lap();
            Ema.Update(emaFlat, masterFlat, 0.9999);
            var emaTime = Lap();
            if (i < warmup) continue;
            times[phases[0]].Add(forward); times[phases[1]].Add(backward); times[phases[2]].Add(optimizer); times[phases[3]].Add(emaTime);
        }
        double Median(List<double> xs) { var s = xs.Order().ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }
        var medians = phases.ToDictionary(ph => ph, ph => Median(times[ph]));
        var total = medians.Values.Sum();
        var label = $"{(s2 ? "S/2" : "shapes")} {config.Fusion} batch {batch} {(bf16 ? "bf16-mixed" : "float32")} {device.type.ToString().ToLowerInvariant()}";
        foreach (var ph in phases)
        {
            yield return ($"{label}: {ph}", medians[ph], "s");
            yield return ($"{label}: {ph} share", 100 * medians[ph] / total, "%");
        }
        yield return ($"{label}: step (sum of medians)", total, "s");
        yield return ($"{label}: parameter tensors (AdamW and EMA update them as one flat buffer)", masterFlat.Entries.Count, "tensors");

        var gemm = MatmulGflops(1024, dtype, device);
        var stepFlops = 3 * 2 * UViTFlops.Forward(config).WithAttention * batch;   // forward + 2× for backward, 2 FLOPs per MAC
        yield return ($"matmul 1024³ {dtype}", gemm, "GFLOP/s");
        yield return ($"{label}: step FLOPs (3 × forward)", stepFlops / 1e9, "GFLOP");
        yield return ($"{label}: GEMM floor (step FLOPs at the matmul rate)", stepFlops / 1e9 / gemm, "s");
        yield return ($"{label}: achieved", stepFlops / 1e9 / total, "GFLOP/s");
        foreach (var m in new nn.Module[] { master, ema }.Concat(bf16 ? [compute] : [])) m.Dispose();
    }

    /// <summary>Median GFLOP/s of an n×n×n matmul in <paramref name="dtype"/> (5 timed after 2 warm-up).</summary>
    public static double MatmulGflops(int n, ScalarType dtype, Device device)
    {
        using var a = randn([n, n]).to(dtype).to(device);
        using var b = randn([n, n]).to(dtype).to(device);
        var rates = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            var clock = Stopwatch.StartNew();
            using (var c = a.matmul(b)) { if (device.type == DeviceType.CUDA) cuda.synchronize(); }
            if (i >= 2) rates.Add(2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9);
        }
        return rates.Order().ElementAt(rates.Count / 2);
    }
}
