using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Denoiser = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Fusion.Tests.Diffusion;

public class TrainingTests(ITestOutputHelper output)
{
    internal const int Features = 2 * 4 * 4;

    /// <summary>n items of 2×4×4 data (moments: 4×4×4), each with 2 captions of 3×8.</summary>
    internal static InMemoryBatchSource Source(BatchKind kind, int n = 6, long seed = 3)
    {
        using var g = new Generator(99);
        var data = randn([n, kind == BatchKind.Moments ? 4 : 2, 4, 4], generator: g);
        if (kind == BatchKind.Moments) data[.., 2..] = data[.., 2..] - 2; // log-variances around −2
        var captions = randn([n, 2, 3, 8], generator: g);
        return new InMemoryBatchSource(data, captions, kind, seed);
    }

    // Gated although its weights come from its own generator: the Linear constructors still draw from the default one.
    internal static Func<Denoiser> Tiny(int hidden = 32, int? nanAt = null, long seed = 7, int? nanGradientAt = null, bool faultPersists = false) =>
        () => TorchRandom.Unseeded(() => new TinyDenoiser(Features, 8, hidden, seed: seed, nanAtCall: nanAt, nanGradientAtCall: nanGradientAt, faultPersists: faultPersists));

    internal static readonly Tensor Null = full([3, 8], 0.25f);

    internal static TrainConfig Small => new()
    {
        BatchSize = 4, LearningRate = 1e-3, WarmupSteps = 2, EmaRate = 0.9, PUncond = 0.5, LogEvery = 1, SaveEvery = 0,
    };

    private static Dictionary<string, Tensor> Weights(nn.Module m) => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

    internal static void AssertIdentical(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, string what)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.True(SamplerTests.Same(a[k], b[k]), $"{what}: '{k}' differs");
    }

    [Fact]
    public void WarmupIsLinearFromZeroThenConstantOrCosine()
    {
        var c = new TrainConfig();
        Assert.Equal(0.0, c.LearningRateAt(0));
        Assert.Equal(2e-4 / 5000, c.LearningRateAt(1), 1e-18);
        Assert.Equal(1e-4, c.LearningRateAt(2500), 1e-18);
        Assert.Equal(2e-4, c.LearningRateAt(5000));
        Assert.Equal(2e-4, c.LearningRateAt(1_000_000));
        Assert.Equal(2e-4, (c with { WarmupSteps = 0 }).LearningRateAt(0));
        // Cosine decay: the warm-up unchanged, then half the rate midway between warm-up and the end, 0 at the end.
        var cos = c with { WarmupSteps = 100, CosineDecaySteps = 900 };
        Assert.Equal(2e-4 / 2, cos.LearningRateAt(50), 1e-18);
        Assert.Equal(2e-4, cos.LearningRateAt(100), 1e-18);
        Assert.Equal(1e-4, cos.LearningRateAt(500), 1e-15);
        Assert.Equal(2e-4 * 0.5 * (1 + Math.Cos(Math.PI / 4)), cos.LearningRateAt(300), 1e-15);
        Assert.Equal(0.0, cos.LearningRateAt(900), 1e-18);
        Assert.Equal(0.0, cos.LearningRateAt(2000), 1e-18);
        // The first optimizer step uses lr 0: with decoupled decay (1 − lr·wd) = 1 the weights do not move at all.
        using var trainer = new Trainer(Tiny(), Small with { WarmupSteps = 5000, LearningRate = 2e-4, WeightDecay = 0.03 }, Source(BatchKind.Samples), Null);
        var before = Weights(trainer.Model);
        var log = trainer.TrainStep();
        Assert.Equal(0.0, log.LearningRate);
        AssertIdentical(before, Weights(trainer.Model), "after an lr-0 step");
        Assert.Equal(2e-4 / 5000, trainer.TrainStep().LearningRate, 1e-18);
    }

    [Fact]
    public void EmaFollowsTheReferenceUpdate()
    {
        var target = TorchRandom.Unseeded(() => nn.Linear(3, 2));
        var source = TorchRandom.Unseeded(() => nn.Linear(3, 2));
        var t0 = target.weight!.clone();
        Ema.Update(target, source, 0.9);
        Assert.True(target.weight!.allclose(t0 * 0.9 + source.weight! * 0.1, rtol: 1e-6, atol: 1e-7));
        Ema.Update(target, source, 0.0);
        Assert.True(SamplerTests.Same(target.weight!, source.weight!));

        // In the trainer: EMA starts as an exact copy and after one step is r·w0 + (1 − r)·w1 (computed the same way).
        using var trainer = new Trainer(Tiny(), Small with { WarmupSteps = 0 }, Source(BatchKind.Samples), Null);
        var w0 = Weights(trainer.Model);
        AssertIdentical(w0, Weights(trainer.Ema), "EMA at start");
        trainer.TrainStep();
        var w1 = Weights(trainer.Model);
        var expected = w0.ToDictionary(kv => kv.Key, kv => kv.Value.clone().mul_(0.9).add_(w1[kv.Key] * (1 - 0.9)));
        AssertIdentical(expected, Weights(trainer.Ema), "EMA after one step");
        Assert.False(SamplerTests.Same(w0.First().Value, w1.First().Value));
    }

    [Fact]
    public void EmaWarmupStartsShortAndReachesTheConfiguredRate()
    {
        var c = new TrainConfig { EmaRate = 0.999, EmaWarmup = true };
        Assert.Equal(0.1, c.EmaRateAt(0), 1e-15);          // (1 + 0) / (10 + 0)
        Assert.Equal(0.91, c.EmaRateAt(90), 1e-15);        // (1 + 90) / (10 + 90)
        Assert.Equal(0.999, c.EmaRateAt(8991), 1e-15);     // (1 + k)/(10 + k) = 0.999 at k = 8991
        Assert.Equal(0.999, c.EmaRateAt(1_000_000));
        Assert.Equal(0.999, (c with { EmaWarmup = false }).EmaRateAt(0));   // the reference: no warm-up

        // In the trainer the first update averages with weight 0.1 on the initialisation instead of 0.999.
        using var trainer = new Trainer(Tiny(), Small with { WarmupSteps = 0, EmaRate = 0.999, EmaWarmup = true }, Source(BatchKind.Samples), Null);
        var w0 = Weights(trainer.Model);
        trainer.TrainStep();
        var w1 = Weights(trainer.Model);
        var expected = w0.ToDictionary(kv => kv.Key, kv => kv.Value.clone().mul_(0.1).add_(w1[kv.Key] * (1 - 0.1)));
        AssertIdentical(expected, Weights(trainer.Ema), "EMA after one warm-up step");
    }

    [Fact]
    public void AdamWMatchesTorchSharpsAdamW()
    {
        using var g = new Generator(5);
        var a = randn([7, 5], generator: g);
        var b = a.clone();
        var initial = a.clone();
        using var flat = FlatParameters.Of([("w", a)]);
        var ours = new AdamW(flat, 0.9, 0.9, 1e-8, 0.03);
        var pb = new TorchSharp.Modules.Parameter(b);
        var theirs = optim.AdamW([pb], lr: 1e-2, beta1: 0.9, beta2: 0.9, eps: 1e-8, weight_decay: 0.03);
        for (var step = 0; step < 5; step++)
        {
            var grad = randn([7, 5], generator: g);
            ours.Step(flat.Pack([grad]), 1e-2);
            pb.grad = grad.clone();
            theirs.step();
        }
        Assert.Equal(5, ours.StepCount);
        Assert.True(a.allclose(pb, rtol: 1e-5, atol: 1e-6), $"max diff {(a - pb).abs().max().item<float>()}");
        Assert.False(a.allclose(initial, rtol: 1e-3, atol: 1e-3));
    }

    [Fact]
    public void TinyModelOverfitsOneBatch()
    {
        using var g = new Generator(1);
        var source = new InMemoryBatchSource(randn([1, 2, 4, 4], generator: g), randn([1, 1, 3, 8], generator: g), BatchKind.Samples, 1);
        var config = new TrainConfig { BatchSize = 32, LearningRate = 1e-2, WarmupSteps = 0, PUncond = 0, WeightDecay = 0, LogEvery = 1 };
        using var trainer = new Trainer(Tiny(hidden: 64), config, source);
        var losses = new List<double>();
        trainer.Run(150, onLog: l => losses.Add(l.Loss));
        output.WriteLine($"{trainer.Step} steps");
        double first = losses.Take(10).Average(), last = losses.TakeLast(20).Average();
        output.WriteLine($"loss {first:F4} → {last:F4}");
        Assert.True(first / last >= 10, $"loss fell only from {first} to {last}");
    }

    [Theory]
    [InlineData(Prediction.Epsilon, 0.0)]
    [InlineData(Prediction.Epsilon, 5.0)]
    [InlineData(Prediction.Velocity, 0.0)]
    [InlineData(Prediction.Velocity, 5.0)]
    public void TheLossIsTheWeightedMseOfTheChosenTarget(Prediction prediction, double gamma)
    {
        // Recomputed in float64 from the same batch, draws and weights: the target (ε, or v = √ᾱ·ε − √(1−ᾱ)·x0) and the
        // min-SNR-γ weight min(SNR, γ)/SNR (ε) or /(SNR + 1) (v), over steps from nearly clean (SNR ≈ 10⁴) to the last.
        var config = Small with { PUncond = 0, Prediction = prediction, MinSnrGamma = gamma };
        using var trainer = new Trainer(Tiny(), config, Source(BatchKind.Samples), null);
        using var batch = Source(BatchKind.Samples).Next(4);
        var n = tensor(new long[] { 1, 10, 300, 1000 });
        using var g = new Generator(5);
        var eps = randn(batch.Data.shape, generator: g);
        var schedule = config.NoiseSchedule();
        Tensor pred;
        using (no_grad()) pred = trainer.Model.call(schedule.AddNoise(batch.Data, n, eps), n.to(ScalarType.Float32), batch.Context).to(ScalarType.Float64);
        var expected = 0.0;
        for (var i = 0; i < 4; i++)
        {
            var k = (int)n[i].item<long>();
            double ab = schedule.AlphasCumprod[k], oneMinus = schedule.OneMinusAlphasCumprod[k], snr = ab / oneMinus;
            var e = eps[i].to(ScalarType.Float64);
            var target = prediction == Prediction.Velocity ? e * Math.Sqrt(ab) - batch.Data[i].to(ScalarType.Float64) * Math.Sqrt(oneMinus) : e;
            var weight = gamma == 0 ? 1 : Math.Min(snr, gamma) / (prediction == Prediction.Velocity ? snr + 1 : snr);
            expected += weight * (target - pred[i]).square().mean().item<double>() / 4;
        }
        var log = trainer.TrainStep(new StepDraws(null, null, n, eps));
        output.WriteLine($"{prediction}, γ = {gamma}: loss {log.Loss:G7}, expected {expected:G7}");
        Assert.Equal(expected, log.Loss, expected * 1e-5);
    }
}
