using System.Diagnostics;
using System.Globalization;
using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.Vae;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Modeling;
using Fusion.Reproduction.Report;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

/// <summary>The sample stage's params; the sampler's are bound onto <see cref="SamplerOptions"/>, whose defaults are the reference's.</summary>
public sealed class SampleParams
{
    /// <summary>The sampler knobs set so far (the rest at the reference's evaluation setting); not a param itself.</summary>
    internal SamplerOptions Options { get; private set; } = SamplerOptions.Reference;

    /// <summary>Samples to draw from the evaluation captions (0 = all of them).</summary>
    [ParamRange(Min = 0)]
    public int Count { get; set; }
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 50;
    public SamplerKind Sampler { get => Options.Kind; set => Options = Options with { Kind = value }; }
    /// <summary>Model evaluations (DPM-Solver) or steps (DDIM): the reference uses 50.</summary>
    [ParamRange(Min = 1)]
    public int Steps { get => Options.Steps; set => Options = Options with { Steps = value }; }
    /// <summary>ε = ε_c + s·(ε_c − ε_u); the reference's s is 1.0, 0 is the conditional model alone and −1 the
    /// unconditional one (below that the guidance points away from the caption).</summary>
    [ParamRange(Min = -1)]
    public double GuidanceScale { get => Options.GuidanceScale; set => Options = Options with { GuidanceScale = value }; }
    /// <summary>Clamp each predicted x̂0 to [−1, 1] (pixel-space models; the reference samples latents and does not).</summary>
    public bool ClipX0 { get => Options.ClipX0; set => Options = Options with { ClipX0 = value }; }
    public long Seed { get; set; } = 1234;
    /// <summary>Images per shard; finished shards survive an interruption.</summary>
    [ParamRange(Min = 1)]
    public int ShardSize { get; set; } = 1000;
    /// <summary>Seeds per grid prompt (columns of grid.png).</summary>
    [ParamRange(Min = 1)]
    public int GridColumns { get; set; } = 6;
    [ParamRange(Min = 1)]
    public int GridScale { get; set; } = 3;
}

/// <summary>
/// Samples one image per evaluation caption with the trained EMA network (DPM-Solver as the reference configures it,
/// classifier-free guidance), in shards written to scratch so an interrupted node resumes at the first missing shard.
/// Each batch's noise depends only on (seed, shard, batch), so resuming changes nothing. Outputs
/// <c>samples/shard-*.parquet</c> (uint8 [3, H, W] as save_image quantises, in evaluation order; key = caption id,
/// image id = the val image the caption belongs to) and <c>grid.png</c> for the fixed grid prompts. A model trained on
/// latent moments needs the <c>vae</c> input (a <c>fetch-weights</c> artifact of the KL-f8 autoencoder): its samples
/// are decoded with z / scale_factor (the model's latent scale, 0.23010 on MS-COCO) before the same quantisation.
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge", "SkiaSharp", "SkiaSharp.NativeAssets.Linux.NoDependencies")]
public sealed class SampleStage : StageKind<SampleParams>
{
    public override string Name => "sample";
    public override string CodeVersion => "2";
    public override IReadOnlyList<StageInput> Inputs => [new("model"), new("text"), new("vae", Optional: true)];
    public override IReadOnlyList<string> Outputs => ["samples/", "grid.png"];

    public override async Task RunAsync(StageContext context, SampleParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var model = context.Input("model");
        var text = context.Input("text");
        var (net, spec) = ModelSpec.LoadTrained(await model.GetPathAsync(ModelSpec.FileName, ct), await model.GetPathAsync(ModelSpec.WeightsFile, ct), device);
        using var _ = net;
        AutoencoderKL? vae = null;
        if (spec.DataKind == BatchKind.Moments)
        {
            if (!context.Inputs.TryGetValue("vae", out var v) || v.Count != 1)
                throw new ArgumentException($"model {model.NodeId} was trained on latent moments: node {context.NodeId} needs the 'vae' input (fetch-weights of the KL-f8 autoencoder) to decode its samples");
            vae = AutoencoderKL.Load(await ArtifactReaders.WeightsPathAsync(v[0], PretrainedComponents.Autoencoder, ct), await ComponentConfigs.AutoencoderAsync(v[0], spec.LatentScale, ct));
            vae.to(device).eval();
        }
        using var __ = vae;
        using var nullContext = await ArtifactReaders.ReadNullContextAsync(text, ct);
        var options = p.Options;
        long[] shape = [spec.InChannels, spec.ImageSize, spec.ImageSize];
        var schedule = spec.NoiseSchedule();
        long[] pixelShape = vae is null ? shape : [3, spec.ImageSize * vae.Config.DownsamplingFactor, spec.ImageSize * vae.Config.DownsamplingFactor];

        var eval = await TableTensors.ReadAsync(await text.PathsAsync("eval", "contexts.parquet", ct), ct);
        var (captionIds, imageIds, contexts) = (eval.Keys, eval.ImageIds, eval.Values);
        var count = p.Count == 0 ? captionIds.Length : p.Count;
        if (count > captionIds.Length) throw new ArgumentException($"count {count} exceeds the {captionIds.Length} evaluation captions of {text.NodeId}");

        var shardDir = Path.Combine(context.ScratchDirectory, "shards");
        Directory.CreateDirectory(shardDir);
        var clock = Stopwatch.StartNew();
        var drawn = 0;
        var shards = (count + p.ShardSize - 1) / p.ShardSize;
        for (var s = 0; s < shards; s++)
        {
            var path = Path.Combine(shardDir, $"shard-{s:D5}.parquet");
            var start = s * p.ShardSize;
            var len = Math.Min(p.ShardSize, count - start);
            if (!File.Exists(path))
            {
                var tmp = path + ".tmp";
                await using (var writer = await TensorTableWriter.CreateAsync(tmp, TensorSpec.UInt8([.. pixelShape.Select(d => (int)d)]), withImageId: true, ct: ct))
                {
                    for (var b = 0; b < len; b += p.BatchSize)
                    {
                        ct.ThrowIfCancellationRequested();
                        var n = Math.Min(p.BatchSize, len - b);
                        var pixels = Generate(net, contexts.narrow(0, start + b, n), nullContext, shape, options, Seed(p.Seed, s, b / p.BatchSize), device, vae, schedule, spec.Prediction);
                        var per = (int)(pixelShape[0] * pixelShape[1] * pixelShape[2]);
                        for (var i = 0; i < n; i++) await writer.AddAsync(captionIds[start + b + i], pixels.AsSpan(i * per, per), imageIds[start + b + i], ct);
                        drawn += n;
                        context.Progress.Report(start + b + n, count, "image");
                    }
                    await writer.CompleteAsync(ct);
                }
                File.Move(tmp, path);
            }
            File.Copy(path, context.OutputPath($"samples/shard-{s:D5}.parquet"));
        }
        if (drawn > 0) context.Summary["images_per_second"] = (drawn / clock.Elapsed.TotalSeconds).ToString("F3");
        context.Summary["samples"] = count.ToString();

        // The grid: the same prompts and seeds for every variant.
        var gridRows = await TableTensors.ReadAsync([await text.GetPathAsync("grid/contexts.parquet", ct)], ct);
        var (prompts, gridContexts) = (gridRows.StringKeys, gridRows.Values);
        var repeated = gridContexts.repeat_interleave(p.GridColumns, dim: 0);
        // Pixel-space grids are one batch (as before); decoded latents go a batch at a time to bound the decoder's memory.
        var gridBatch = vae is null ? (int)repeated.shape[0] : p.BatchSize;
        var grid = new List<byte>();
        for (var b = 0; b < repeated.shape[0]; b += gridBatch)
            grid.AddRange(Generate(net, repeated.narrow(0, b, Math.Min(gridBatch, repeated.shape[0] - b)), nullContext, shape, options, Seed(p.Seed, -1, b / gridBatch), device, vae, schedule, spec.Prediction));
        var floats = grid.Select(v => v / 255f).ToArray();
        await File.WriteAllBytesAsync(context.OutputPath("grid.png"),
            SampleGrid.Png(floats, (int)pixelShape[1], (int)pixelShape[2], prompts, p.GridColumns, p.GridScale,
                SampleGrid.Title(context.NodeId), string.Create(CultureInfo.InvariantCulture, $"noise seed {p.Seed} · {p.GridColumns} draws per prompt (columns) · {p.Sampler}, {p.Steps} steps, guidance {p.GuidanceScale:0.###}")), ct);
        context.Logger.LogInformation("sample {Node}: {Count} images, grid of {Prompts} prompts", context.NodeId, count, prompts.Count);
    }

    /// <summary>Distinct, reproducible noise seed per (shard, batch).</summary>
    private static long Seed(long seed, int shard, int batch) => unchecked(seed * 1_000_003 + (shard + 1) * 10_007L + batch);

    /// <summary>
    /// Samples (decoding latents with <paramref name="vae"/> when given) and quantises to uint8 CHW exactly as
    /// save_image: floor(255·(x+1)/2 + 0.5), clamped.
    /// </summary>
    public static byte[] Generate(TorchSharp.torch.nn.Module<Tensor, Tensor, Tensor, Tensor> net, Tensor contexts, Tensor nullContext, long[] shape,
        SamplerOptions options, long seed, Device device, AutoencoderKL? vae = null, DiscreteSchedule? schedule = null,
        Prediction prediction = Prediction.Epsilon)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = DiffusionSampler.Sample(net, contexts.to(device), nullContext, shape, options, seed, schedule, prediction);
        if (vae is not null) x = vae.Decode(x.to(ScalarType.Float32));
        var img = x.cpu().to(ScalarType.Float32).Plus(1).Over(2).Clamp(0, 1);
        var bytes = img.Times(255).Plus(0.5).floor().Clamp(0, 255).to(ScalarType.Byte).contiguous();
        return bytes.data<byte>().ToArray();
    }
}
