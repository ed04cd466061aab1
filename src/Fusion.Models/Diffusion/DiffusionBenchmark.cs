using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// `fusion bench diffusion`: train-step time in float32 vs bfloat16-mixed (float32 masters) and DPM-Solver sampling
/// throughput (reference setting: fast, order 3, 50 NFE, guidance on, so 2 forwards per sample per NFE) on a
/// <see cref="TransformerDenoiser"/>. Options (-s key=value): dim, depth, heads, batch, image, patch, channels,
/// tokens (context length), context_dim, steps (timed train steps), nfe, sample_batch, threads (torch intra-op threads),
/// bf16_sampling (true/false; default: only when bf16 matmul is at least as fast as fp32 here).
/// It also reports the machine's current float32 and bfloat16 matmul rates, so the ratio can be judged against them.
/// </summary>
public static class DiffusionBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        int Opt(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v) : fallback;
        int dim = Opt("dim", 256), depth = Opt("depth", 4), heads = Opt("heads", 4), batch = Opt("batch", 4), image = Opt("image", 32),
            patch = Opt("patch", 2), channels = Opt("channels", 4), tokens = Opt("tokens", 77), contextDim = Opt("context_dim", 768),
            steps = Opt("steps", 2), nfe = Opt("nfe", 50), sampleBatch = Opt("sample_batch", 1);
        if (options.TryGetValue("threads", out var threads)) TorchThreads.Set(int.Parse(threads));
        var (fp32Rate, bf16Rate) = (MatmulGflops(ScalarType.Float32), MatmulGflops(ScalarType.BFloat16));
        yield return ("matmul 1024³ fp32", fp32Rate, "GFLOP/s");
        yield return ("matmul 1024³ bf16", bf16Rate, "GFLOP/s");
        // Without avx512_bf16/AMX, libtorch's CPU bf16 matmul is a slow fallback; skip bf16 sampling there unless asked.
        var bf16Sampling = options.TryGetValue("bf16_sampling", out var bs) ? bool.Parse(bs) : bf16Rate >= fp32Rate;
        // Gated (re-entrant, so the trainer's seeded build of it stays seeded); data from own generators.
        TransformerDenoiser Create() => TorchRandom.Unseeded(() => new TransformerDenoiser(channels, image, patch, dim, depth, heads, tokens, contextDim));
        using (var probe = Create())
            yield return ($"denoiser parameters (dim {dim}, depth {depth}, {image / patch * (image / patch)}+{tokens + 1} tokens)",
                probe.parameters().Sum(p => p.numel()), "count");

        using var g = new Generator(0);
        var data = randn([batch * 2, channels, image, image], generator: g);
        var captions = randn([batch * 2, 1, tokens, contextDim], generator: g);
        var nullContext = zeros(tokens, contextDim);
        var perStep = new Dictionary<TrainPrecision, double>();
        foreach (var precision in new[] { TrainPrecision.Float32, TrainPrecision.BFloat16Mixed })
        {
            var config = new TrainConfig { BatchSize = batch, Precision = precision, WarmupSteps = 0 };
            using var trainer = new Trainer(Create, config, new InMemoryBatchSource(data, captions, BatchKind.Samples, 0), nullContext);
            trainer.TrainStep(); // warm-up: allocations, kernel selection
            var times = new List<double>();
            for (var i = 0; i < steps; i++)
            {
                var sw = Stopwatch.StartNew();
                trainer.TrainStep();
                times.Add(sw.Elapsed.TotalSeconds);
            }
            perStep[precision] = times.Average();
            var name = precision == TrainPrecision.Float32 ? "fp32" : "bf16-mixed";
            yield return ($"train step {name}, batch {batch} (mean of {steps})", perStep[precision], "s");
            yield return ($"train step {name}, batch {batch} (min)", times.Min(), "s");
        }
        yield return ("train speed-up bf16-mixed / fp32", perStep[TrainPrecision.Float32] / perStep[TrainPrecision.BFloat16Mixed], "×");

        var context = randn([sampleBatch, tokens, contextDim], generator: g);
        foreach (var dtype in bf16Sampling ? new[] { ScalarType.Float32, ScalarType.BFloat16 } : [ScalarType.Float32])
        {
            using var net = Create();
            net.to(dtype);
            var options50 = SamplerOptions.Reference with { Steps = nfe };
            using (var warm = DiffusionSampler.Sample(net, context, nullContext, [channels, image, image], options50 with { Steps = 3 }, seed: 0)) { }
            var sw = Stopwatch.StartNew();
            using var x = DiffusionSampler.Sample(net, context, nullContext, [channels, image, image], options50, seed: 0);
            var seconds = sw.Elapsed.TotalSeconds;
            var name = dtype == ScalarType.Float32 ? "fp32" : "bf16";
            yield return ($"sampling DPM-Solver NFE {nfe} + CFG, {name}, batch {sampleBatch}", sampleBatch / seconds, "images/s");
        }
    }

    private static double MatmulGflops(ScalarType dtype)
    {
        using var g = new Generator(0);
        using var a = randn([1024, 1024], generator: g).to(dtype);
        using var b = randn([1024, 1024], generator: g).to(dtype);
        using (var warm = a.matmul(b)) { }
        var sw = Stopwatch.StartNew();
        const int reps = 5;
        for (var i = 0; i < reps; i++) using (var c = a.matmul(b)) { }
        return 2.0 * 1024 * 1024 * 1024 * reps / sw.Elapsed.TotalSeconds / 1e9;
    }
}
