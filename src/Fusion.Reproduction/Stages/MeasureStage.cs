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
    public int BatchSize { get; set; } = 256;
    public int WarmupSteps { get; set; } = 2;
    public int TimedSteps { get; set; } = 10;
    /// <summary>float32 or b-float16-mixed; unset = from the run's --dtype.</summary>
    public TrainPrecision? Precision { get; set; }
    public int SampleBatch { get; set; } = 16;
    /// <summary>Model evaluations per sample (the reference's 50), with guidance (two forward passes per evaluation).</summary>
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
        using (var probe = new UViT(config)) parameters = probe.ParameterCount();

        // Train step: synthetic data of the model's shapes (timing does not depend on the values).
        random.manual_seed(p.Seed);
        var channels = spec.DataKind == BatchKind.Moments ? 2 * spec.InChannels : spec.InChannels;
        using var data = randn(2 * p.BatchSize, channels, spec.ImageSize, spec.ImageSize);
        using var captions = randn(2 * p.BatchSize, 1, spec.TextTokens, spec.TextDim);
        using var nullContext = zeros(spec.TextTokens, spec.TextDim);
        var train = new TrainConfig
        {
            BatchSize = p.BatchSize, WarmupSteps = 1, Precision = p.Precision ?? TrainStage.PrecisionOf(context.Environment.Dtype),
            Device = context.Environment.Device, Seed = p.Seed, LatentScale = spec.LatentScale,
        };
        double stepsPerSecond;
        using (var trainer = new Trainer(() => new UViT(config), train, new InMemoryBatchSource(data, captions, spec.DataKind, p.Seed), nullContext))
        {
            for (var i = 0; i < p.WarmupSteps; i++) trainer.TrainStep();
            Synchronize(device);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < p.TimedSteps; i++)
            {
                ct.ThrowIfCancellationRequested();
                trainer.TrainStep();
                context.Progress.Report(i + 1, p.TimedSteps + 2, "step");
            }
            Synchronize(device);
            stepsPerSecond = p.TimedSteps / clock.Elapsed.TotalSeconds;
        }

        // Sampling: one warm-up batch with few steps, then one timed batch with the configured steps.
        double imagesPerSecond;
        using (var net = new UViT(config))
        {
            net.to(device).eval();
            using var ctx = randn(p.SampleBatch, spec.TextTokens, spec.TextDim).to(device);
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
            ["variant"] = config.Fusion.ToString(), ["device"] = context.Environment.Device, ["precision"] = train.Precision.ToString(),
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

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
