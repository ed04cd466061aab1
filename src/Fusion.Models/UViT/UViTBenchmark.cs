using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using Fusion.Models.Diffusion;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// `fusion bench uvit`: per variant, analytic forward compute, train-step time (forward + backward + AdamW) at S/2 and at a
/// tiny config in fp32 and bf16 (bf16 compute copy with fp32 master weights and optimizer, as a trainer does without
/// autocast), the intermediate/early ratios the paper claims (FLOPs ≈ 0.8, training speed ≈ 1.5×), the measured matmul
/// rate per dtype and the share of it the linear layers reach inside a forward pass.
/// Options: batch (S/2 batch, default 2), tiny-batch (16), steps (timed steps, 2), warmup (1),
/// variants (';'-separated names, default the four at c = v = 3), tiny (false: skip the tiny config), dtypes (fp32,bf16;
/// `-s dtypes=fp32` on CPUs without fast bf16, where the bf16 half takes many minutes).
/// </summary>
public static class UViTBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        string Opt(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
        int batch = int.Parse(Opt("batch", "2"), CultureInfo.InvariantCulture);
        int tinyBatch = int.Parse(Opt("tiny-batch", "16"), CultureInfo.InvariantCulture);
        int steps = int.Parse(Opt("steps", "2"), CultureInfo.InvariantCulture);
        int warmup = int.Parse(Opt("warmup", "1"), CultureInfo.InvariantCulture);
        bool tiny = bool.Parse(Opt("tiny", "true"));
        var dtypes = Opt("dtypes", "fp32,bf16").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(d => d switch
        {
            "fp32" => ScalarType.Float32, "bf16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"dtypes: unknown '{d}' (fp32, bf16)"),
        }).ToArray();
        var variants = options.TryGetValue("variants", out var names)
            ? names.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(UViTFusion.Parse).ToList()
            : UViTFusion.All.ToList();
        var baseline = variants.Contains(UViTFusion.EarlyConcat) ? UViTFusion.EarlyConcat : variants[0];

        // Analytic compute and parameters (S/2, batch 1).
        var macs = variants.ToDictionary(f => f, f => UViTFlops.Forward(UViTConfig.SmallS2(f)));
        foreach (var f in variants)
        {
            using var shapes = new UViT(UViTConfig.SmallS2(f), META);
            yield return ($"S/2 {f} parameters", shapes.ParameterCount(), "values");
            yield return ($"S/2 {f} forward, with attention", macs[f].GFlopsWithAttention, "GFLOPs (2/MAC, batch 1)");
            yield return ($"S/2 {f} forward, linear+conv only", macs[f].GFlopsWithoutAttention, "GFLOPs (2/MAC, batch 1)");
            if (f != baseline)
                yield return ($"S/2 {f} / {baseline} forward FLOPs", (double)macs[f].WithAttention / macs[baseline].WithAttention, "ratio");
        }

        // Matmul rate per dtype (square 1024³ and the MLP's fc1 shape at this batch).
        var rates = new Dictionary<ScalarType, double>();
        foreach (var dtype in dtypes)
        {
            rates[dtype] = MatmulGFlops(1024, 1024, 1024, dtype);
            yield return ($"matmul 1024³ {Name(dtype)}", rates[dtype], "GFLOP/s");
            yield return ($"matmul [{batch}·334×512]·[512×2048] {Name(dtype)}", MatmulGFlops(batch * 334, 512, 2048, dtype), "GFLOP/s");
        }

        // Linear layers inside a real forward pass (early-concat S/2, no grad).
        foreach (var dtype in dtypes)
        {
            var (linearRate, forwardSeconds) = LinearRateInForward(UViTConfig.SmallS2(baseline), batch, dtype);
            yield return ($"S/2 {baseline} forward batch {batch} {Name(dtype)}", forwardSeconds, "s");
            yield return ($"S/2 {baseline} linear layers in forward {Name(dtype)}", linearRate, "GFLOP/s");
            yield return ($"S/2 {baseline} linear layers / matmul 1024³ {Name(dtype)}", linearRate / rates[dtype], "share");
        }

        // Train steps.
        var configs = new List<(string Label, Func<UViTFusion, UViTConfig> Config, int Batch)> { ("S/2", UViTConfig.SmallS2, batch) };
        if (tiny) configs.Add(("tiny", f => UViTConfig.Tiny(f.Stage == FusionStage.Early ? f : new UViTFusion(f.Stage, f.Method, 1, 1)), tinyBatch));
        foreach (var (label, config, b) in configs)
        {
            var times = new Dictionary<(UViTFusion, ScalarType), double>();
            foreach (var f in variants)
                foreach (var dtype in dtypes)
                {
                    times[(f, dtype)] = TrainStepSeconds(config(f), b, dtype, warmup, steps);
                    yield return ($"{label} {config(f).Fusion} train step batch {b} {Name(dtype)}", times[(f, dtype)], "s");
                }
            foreach (var f in variants)
            {
                if (dtypes.Length == 2)
                    yield return ($"{label} {config(f).Fusion} bf16 speed-up over fp32", times[(f, ScalarType.Float32)] / times[(f, ScalarType.BFloat16)], "×");
                if (f == baseline) continue;
                foreach (var dtype in dtypes)
                    yield return ($"{label} {config(f).Fusion} / {config(baseline).Fusion} train-step time {Name(dtype)}",
                        times[(f, dtype)] / times[(baseline, dtype)], "ratio");
            }
        }
    }

    private static string Name(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "fp32";

    private static double MatmulGFlops(long m, long k, long n, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(0);
        var a = randn([m, k], generator: g).to_type(dtype);
        var b = randn([k, n], generator: g).to_type(dtype);
        matmul(a, b).Dispose();
        int reps = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 0.5 || reps < 3) { matmul(a, b).Dispose(); reps++; }
        return 2.0 * m * k * n * reps / sw.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>GFLOP/s of the Linear modules (time between their pre- and post-hooks) and the whole forward's seconds.</summary>
    private static (double GFlops, double Seconds) LinearRateInForward(UViTConfig config, int batch, ScalarType dtype)
    {
        using var model = TorchRandom.Unseeded(() => new UViT(config));
        model.to(dtype).eval();
        var (x, t, ctx) = Inputs(config, batch, dtype);
        double linearSeconds = 0;
        long linearMacs = 0;
        var clock = new Stopwatch();
        foreach (var (_, m) in model.named_modules())
            if (m is Linear lin)
            {
                lin.register_forward_pre_hook((_, input) => { clock.Restart(); return null!; });
                lin.register_forward_hook((_, _, y) => { linearSeconds += clock.Elapsed.TotalSeconds; linearMacs += y.numel() * lin.in_features; return null!; });
            }
        using var _ = no_grad();
        model.call(x, t, ctx).Dispose();   // warm-up
        (linearSeconds, linearMacs) = (0, 0);
        var sw = Stopwatch.StartNew();
        model.call(x, t, ctx).Dispose();
        return (2.0 * linearMacs / linearSeconds / 1e9, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Mean seconds per train step: ε-MSE, backward, our AdamW (lr 2e-4, betas 0.9/0.9, wd 0.03, over the flat buffer) on fp32 master weights.
    /// For bf16 the step copies the master weights into a bf16 network, runs forward/backward there and hands the
    /// gradients back as fp32.
    /// </summary>
    private static double TrainStepSeconds(UViTConfig config, int batch, ScalarType dtype, int warmup, int steps)
    {
        using var master = TorchRandom.Seeded(0, () => new UViT(config));
        using var compute = dtype == ScalarType.Float32 ? null : TorchRandom.Unseeded(() => new UViT(config));   // gets the master's weights
        compute?.to(dtype);
        using var masterParams = FlatParameters.Of(master);
        using var computeParams = compute is null ? null : FlatParameters.Of(compute);
        var grads = computeParams ?? masterParams;
        using var optimizer = new Fusion.Models.Diffusion.AdamW(masterParams, 0.9, 0.9, 1e-8, 0.03);
        var (x, t, ctx) = Inputs(config, batch, dtype);
        using var g = new Generator(1);
        using var target = randn(x.shape, ScalarType.Float32, generator: g);

        void Step()
        {
            using var scope = NewDisposeScope();
            grads.ZeroGradients();
            if (computeParams is not null)
                using (no_grad()) computeParams.Values.copy_(masterParams.Values);
            var eps = (compute ?? master).call(x, t, ctx);
            var loss = nn.functional.mse_loss(eps.to_type(ScalarType.Float32), target);
            loss.backward();
            grads.AdoptGradients();
            optimizer.Step(grads.Gradients!.to_type(ScalarType.Float32), 2e-4);
        }

        for (int i = 0; i < warmup; i++) Step();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) Step();
        return sw.Elapsed.TotalSeconds / steps;
    }

    // Benchmarks draw from their own generators too: the default one is shared by the whole process (TorchRandom).
    private static (Tensor X, Tensor T, Tensor Ctx) Inputs(UViTConfig c, int batch, ScalarType dtype)
    {
        using var g = new Generator(0);
        return (randn([batch, c.InChannels, c.ImageSize, c.ImageSize], generator: g).to_type(dtype),
                randint(1, 1001, [batch], generator: g).to_type(ScalarType.Float32),
                randn([batch, c.NumClipTokens, c.ClipDim], generator: g).to_type(dtype));
    }
}
