using TorchSharp;
using System.Diagnostics;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Measurement;

/// <summary>
/// Times one network configuration: train steps (forward + backward + AdamW + EMA on synthetic batches of its shapes;
/// timing does not depend on the values) and guided DPM-Solver sampling, on fresh networks seeded by
/// <paramref name="seed"/>. It stays alive between timed units so interleaved rounds pay no set-up.
/// </summary>
public sealed class VariantTimer : IDisposable
{
    private readonly Tensor data, captions, nullContext, sampleContext, sampleNull;
    private readonly Trainer trainer;
    private readonly UViT sampler;
    private readonly Device device;
    private readonly long[] imageShape;
    private readonly long seed;

    /// <param name="deviceGuard">The trainer's <see cref="TrainConfig.DeviceGuard"/> (null: on for CUDA).</param>
    public VariantTimer(UViTConfig config, BatchKind kind, int batch, TrainPrecision precision, string device, int sampleBatch, long seed, bool? deviceGuard = null)
    {
        this.seed = seed;
        this.device = TorchEnvironment.ResolveDevice(device);
        var channels = kind == BatchKind.Moments ? 2 * config.InChannels : config.InChannels;
        using var generator = new Generator((ulong)seed);
        data = randn([2 * batch, channels, config.ImageSize, config.ImageSize], generator: generator);
        captions = randn([2 * batch, 1, config.NumClipTokens, config.ClipDim], generator: generator);
        nullContext = zeros(config.NumClipTokens, config.ClipDim);
        var train = new TrainConfig { BatchSize = batch, WarmupSteps = 1, Precision = precision, Device = device, Seed = seed, DeviceGuard = deviceGuard };
        trainer = new Trainer(() => new UViT(config), train, new InMemoryBatchSource(data, captions, kind, seed), nullContext);
        sampler = TorchRandom.Seeded(seed, () => new UViT(config));
        sampler.to(this.device).eval();
        sampleContext = randn([sampleBatch, config.NumClipTokens, config.ClipDim], generator: generator).to(this.device);
        sampleNull = zeros(config.NumClipTokens, config.ClipDim);
        imageShape = [config.InChannels, config.ImageSize, config.ImageSize];
    }

    /// <summary>
    /// Train steps per second of a fresh network of <paramref name="config"/> after <paramref name="warmup"/> untimed
    /// steps (one timing, for benchmarks; the stage interleaves rounds).
    /// </summary>
    public static double TimeTrainSteps(UViTConfig config, BatchKind kind, int batch, TrainPrecision precision, string device, int warmup, int steps,
        long seed = 99, Action<int>? progress = null, CancellationToken ct = default, bool? deviceGuard = null)
    {
        using var timer = new VariantTimer(config, kind, batch, precision, device, sampleBatch: 1, seed, deviceGuard);
        timer.WarmUp(warmup);
        return timer.TrainStepsPerSecond(steps, progress, ct);
    }

    /// <summary>Untimed train steps and one short sampling batch, so first-call costs stay out of the timings.</summary>
    public void WarmUp(int trainSteps)
    {
        trainer.Run(trainer.Step + trainSteps);
        Sample(new SamplerOptions { Kind = SamplerKind.Ddim, Steps = 2 });
        Synchronize();
    }

    public double TrainStepsPerSecond(int steps, Action<int>? progress = null, CancellationToken ct = default)
    {
        Synchronize();
        var clock = Stopwatch.StartNew();
        // Through Run, in spans of its log interval: on a GPU the host reads step results only at each span's end.
        var (start, span) = (trainer.Step, trainer.Config.LogEvery);
        while (trainer.Step < start + steps)
        {
            trainer.Run(Math.Min(start + steps, trainer.Step + span), cancel: ct);
            progress?.Invoke((int)(trainer.Step - start));
        }
        Synchronize();
        return steps / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Images per second of one guided batch with <paramref name="steps"/> model evaluations.</summary>
    public double SampleImagesPerSecond(int steps)
    {
        Synchronize();
        var clock = Stopwatch.StartNew();
        Sample(new SamplerOptions { Steps = steps });
        Synchronize();
        return sampleContext.shape[0] / clock.Elapsed.TotalSeconds;
    }

    private void Sample(SamplerOptions options)
    {
        using (no_grad()) using (DiffusionSampler.Sample(sampler, sampleContext, sampleNull, imageShape, options, seed)) { }
    }

    private void Synchronize()
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }

    public void Dispose()
    {
        trainer.Dispose();
        sampler.Dispose();
        foreach (var t in new[] { data, captions, nullContext, sampleContext, sampleNull }) t.Dispose();
    }
}
