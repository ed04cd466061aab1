using TorchSharp;
using System.Diagnostics;
using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Modeling;
using Fusion.Workflow.Stages;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class MeasureParams
{
    /// <summary>Batch of the timed train steps (set it to the training batch).</summary>
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 256;
    [ParamRange(Min = 0)]
    public int WarmupSteps { get; set; } = 2;
    [ParamRange(Min = 1)]
    public int TimedSteps { get; set; } = 10;
    /// <summary>float32 or b-float16-mixed; unset = from the run's --dtype.</summary>
    public TrainPrecision? Precision { get; set; }
    [ParamRange(Min = 1)]
    public int SampleBatch { get; set; } = 16;
    /// <summary>Model evaluations per sample (the reference's 50), with guidance (two forward passes per evaluation).</summary>
    [ParamRange(Min = 1)]
    public int SampleSteps { get; set; } = 50;
    public long Seed { get; set; } = 99;
}

/// <summary>
/// The efficiency figures of one variant, measured on this run's device: parameters, analytic forward GMACs (batch 1,
/// with and without the attention matmuls), train steps/s (forward + backward + AdamW + EMA on synthetic batches of
/// the trained model's shapes, after warm-up) and sampling images/s (DPM-Solver, guided). Wall-clock numbers depend
/// on the machine: compare variants only within one run.
/// </summary>
public sealed class MeasureStage : StageKind<MeasureParams>
{
    public override string Name => "measure";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("model")];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet"];

    public override async Task RunAsync(StageContext context, MeasureParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var model = context.Input("model");
        var spec = ModelSpec.Load(await model.GetPathAsync(ModelSpec.FileName, ct));
        var config = spec.ToConfig();
        var macs = UViTFlops.Forward(config);
        long parameters;
        using (var probe = TorchRandom.Unseeded(() => new UViT(config))) parameters = probe.ParameterCount();

        var precision = p.Precision ?? TrainStage.PrecisionOf(context.Environment.Dtype);
        var stepsPerSecond = TrainStepsPerSecond(config, spec.DataKind, p.BatchSize, precision, context.Environment.Device, p.WarmupSteps, p.TimedSteps, p.Seed,
            i => context.Progress.Report(i, p.TimedSteps + 2, "step"), ct);
        using var nullContext = zeros(spec.TextTokens, spec.TextDim);

        // Sampling: one warm-up batch with few steps, then one timed batch with the configured steps.
        double imagesPerSecond;
        using (var net = TorchRandom.Seeded(p.Seed, () => new UViT(config)))
        {
            net.to(device).eval();
            using var generator = new Generator((ulong)p.Seed);
            using var ctx = randn([p.SampleBatch, spec.TextTokens, spec.TextDim], generator: generator).to(device);
            long[] shape = [spec.InChannels, spec.ImageSize, spec.ImageSize];
            using (no_grad()) using (DiffusionSampler.Sample(net, ctx, nullContext, shape, new SamplerOptions { Kind = SamplerKind.Ddim, Steps = 2 }, p.Seed)) { }
            Synchronize(device);
            var clock = Stopwatch.StartNew();
            using (no_grad()) using (DiffusionSampler.Sample(net, ctx, nullContext, shape, new SamplerOptions { Steps = p.SampleSteps }, p.Seed)) { }
            Synchronize(device);
            imagesPerSecond = p.SampleBatch / clock.Elapsed.TotalSeconds;
            context.Progress.Report(p.TimedSteps + 2, p.TimedSteps + 2, "step");
        }

        var labels = new Dictionary<string, string>
        {
            ["variant"] = config.Fusion.ToString(), ["device"] = context.Environment.Device, ["precision"] = precision.ToString(),
            ["batch"] = p.BatchSize.ToString(),
        };
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"),
        [
            new MetricRow("parameters", parameters, "count", labels),
            new MetricRow("forward_gmacs", macs.GMacsWithAttention, "GMAC", labels),
            new MetricRow("forward_gmacs_without_attention", macs.GMacsWithoutAttention, "GMAC", labels),
            new MetricRow("train_steps_per_second", stepsPerSecond, "step/s", labels),
            new MetricRow("train_images_per_second", stepsPerSecond * p.BatchSize, "image/s", labels),
            new MetricRow("sample_images_per_second", imagesPerSecond, "image/s",
                new Dictionary<string, string>(labels) { ["batch"] = p.SampleBatch.ToString(), ["nfe"] = p.SampleSteps.ToString() }),
        ], ct: ct);
        context.Summary["gmacs"] = macs.GMacsWithAttention.ToString("F4");
        context.Summary["train_steps_per_second"] = stepsPerSecond.ToString("F3");
    }

    /// <summary>
    /// Train steps per second of a fresh network of <paramref name="config"/>: forward + backward + AdamW + EMA on
    /// synthetic batches (timing does not depend on the values), after <paramref name="warmup"/> untimed steps.
    /// </summary>
    public static double TrainStepsPerSecond(UViTConfig config, BatchKind kind, int batch, TrainPrecision precision, string device, int warmup, int steps,
        long seed = 99, Action<int>? progress = null, CancellationToken ct = default)
    {
        var channels = kind == BatchKind.Moments ? 2 * config.InChannels : config.InChannels;
        using var generator = new Generator((ulong)seed);
        using var data = randn([2 * batch, channels, config.ImageSize, config.ImageSize], generator: generator);
        using var captions = randn([2 * batch, 1, config.NumClipTokens, config.ClipDim], generator: generator);
        using var nullContext = zeros(config.NumClipTokens, config.ClipDim);
        var train = new TrainConfig { BatchSize = batch, WarmupSteps = 1, Precision = precision, Device = device, Seed = seed };
        using var trainer = new Trainer(() => new UViT(config), train, new InMemoryBatchSource(data, captions, kind, seed), nullContext);
        var dev = TorchEnvironment.ResolveDevice(device);
        for (var i = 0; i < warmup; i++) trainer.TrainStep();
        Synchronize(dev);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            trainer.TrainStep();
            progress?.Invoke(i + 1);
        }
        Synchronize(dev);
        return steps / clock.Elapsed.TotalSeconds;
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
