using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Inception;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Stages;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class CocoEvaluateParams
{
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 50;
    /// <summary>Bootstrap replicates over the samples (bootstrap.parquet); each FID replicate is one [D, N]·[N, D]
    /// product on the device and one D×D eigendecomposition on the CPU.</summary>
    [ParamRange(Min = 2)]
    public int BootstrapResamples { get; set; } = Bootstrap.DefaultResamples;
    /// <summary>Every variant's evaluation must use the same seed: equal seeds and captions give a paired bootstrap.</summary>
    public long BootstrapSeed { get; set; } = Bootstrap.DefaultSeed;
}

/// <summary>
/// Scores one variant's samples: FID (FID Inception-v3 pool3 of the uint8 samples, the path of
/// <see cref="FidFeatures"/>) against the reference statistics, and CLIP Score with CLIP ViT-L/14 in both conventions —
/// torchmetrics (100·cos, caption as is, metric <c>clip_score</c>) and Hessel et al.'s CLIP-S (2.5·max(cos, 0),
/// "A photo depicts " prefix, metric <c>clip_s</c>) — each image against the caption it was drawn for, the uint8 samples
/// (quantised as the reference's saved PNGs) through openai CLIP's preprocessing with Pillow's exact resampling. Streams the sample shards, so 30k samples never sit in memory at once. The samples' FID
/// statistics are kept as <c>statistics.parquet</c>; <c>bootstrap.parquet</c> holds each metric's bootstrap replicates over
/// the samples (FID: the samples' features resampled against the fixed reference statistics).
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge")]
public sealed class CocoEvaluateStage : StageKind<CocoEvaluateParams>
{
    public override string Name => "coco-evaluate";
    public override string CodeVersion => "4";
    public override IReadOnlyList<StageInput> Inputs => [new("samples"), new("text"), new("reference"), new("inception"), new("clip")];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet", "statistics.parquet", SampleBootstrap.FileName];

    public override async Task RunAsync(StageContext context, CocoEvaluateParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var captions = (await CaptionsTable.ReadAllAsync((await context.Input("text").PathsAsync("eval", "captions.parquet", ct)).Single(), ct)).ToDictionary(c => c.CaptionId);
        var (reference, provenance) = await CocoFidReferenceStage.ReadAsync(context.Input("reference"), ct);
        using var _r = reference;
        using var inception = FidInceptionV3.FromCheckpoint(await FetchWeightsStage.PathAsync(context.Input("inception"), PretrainedComponents.Inception, ct));
        inception.to(device);
        var clipInput = context.Input("clip");
        var tokenizer = ClipTokenizer.FromHuggingFaceFiles(await FetchWeightsStage.PathAsync(clipInput, PretrainedComponents.ClipVocab, ct),
            await FetchWeightsStage.PathAsync(clipInput, PretrainedComponents.ClipMerges, ct));
        using var clip = ClipModel.Load(await FetchWeightsStage.PathAsync(clipInput, PretrainedComponents.ClipWeights, ct), await ComponentConfigs.ClipAsync(clipInput, ct));
        clip.to(device).eval();

        var shards = await context.Input("samples").PathsAsync("samples", ".parquet", ct);
        long total = 0;
        foreach (var s in shards) { await using var r = await TensorTableReader.OpenAsync(s, ct: ct); total += r.RowCount; }
        var torchmetrics = new ClipScoreAccumulator(ClipScoreConvention.Torchmetrics);
        var hessel = new ClipScoreAccumulator(ClipScoreConvention.HesselClipS);
        using var features = new ActivationAccumulator(FidFeatures.Dim);
        var featureBatches = new List<Tensor>();   // float32 on the CPU: 30k × 2048 is 245 MB
        var captionIds = new List<long>();
        long done = 0;

        void Score(List<(long CaptionId, byte[] Pixels)> batch, IReadOnlyList<int> shape)
        {
            using var scope = NewDisposeScope();
            using var __ = no_grad();
            var images = tensor(batch.SelectMany(b => b.Pixels).ToArray(), [batch.Count, .. shape.Select(d => (long)d)]);
            var batchFeatures = FidFeatures.Of(inception, images, device);
            features.Add(batchFeatures);
            featureBatches.Add(batchFeatures.to(float32, CPU).DetachFromDisposeScope());
            captionIds.AddRange(batch.Select(b => b.CaptionId));
            var texts = batch.Select(b => captions.TryGetValue(b.CaptionId, out var c) ? c.Text
                : throw new InvalidDataException($"sample keyed by caption {b.CaptionId} has no evaluation caption in {context.Input("text").NodeId}")).ToList();
            var imageEmbeds = clip.GetImageFeatures(ClipImagePreprocessor.Preprocess(images, clip.Config.ImageSize).to(device)).cpu();
            torchmetrics.Add(imageEmbeds, clip.GetTextFeatures(tokenizer.Tokenize(texts, ClipTokenizerOptions.HuggingFace with { ContextLength = clip.Config.ContextLength }).to(device)).cpu());
            var prefixed = texts.Select(t => ClipScores.TextFor(ClipScoreConvention.HesselClipS, t)).ToList();
            hessel.Add(imageEmbeds, clip.GetTextFeatures(tokenizer.Tokenize(prefixed, ClipTokenizerOptions.OpenAI with { ContextLength = clip.Config.ContextLength }).to(device)).cpu());
        }

        foreach (var path in shards)
        {
            await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
            if (reader.Spec.DType != TensorDType.UInt8 || reader.Spec.Shape.Count != 3 || reader.Spec.Shape[0] != 3)
                throw new InvalidDataException($"{path}: samples must be uint8 [3, H, W], got {reader.Spec}");
            var batch = new List<(long, byte[])>();
            await foreach (var row in reader.ReadAllAsync(ct))
            {
                batch.Add((row.Int64Key, row.Payload));
                if (batch.Count < p.BatchSize) continue;
                Score(batch, reader.Spec.Shape);
                done += batch.Count;
                batch.Clear();
                context.Progress.Report(done, total, "image");
                ct.ThrowIfCancellationRequested();
            }
            if (batch.Count > 0) { Score(batch, reader.Spec.Shape); done += batch.Count; context.Progress.Report(done, total, "image"); }
        }

        using var stats = features.Compute();
        // Kept so the samples can be scored against another reference without running Inception again.
        await FidStatistics.WriteAsync(context.OutputPath("statistics.parquet"), stats, new Dictionary<string, string> { ["features"] = "FID Inception-v3 pool3" }, ct);
        var fid = FrechetDistance.Compute(stats, reference);
        var tm = torchmetrics.Result();
        var cs = hessel.Result();

        SampleBootstrap replicates;
        using (var all = cat(featureBatches))
        using (var fidBootstrap = new FidBootstrap(all, reference, device))
        {
            foreach (var f in featureBatches) f.Dispose();
            replicates = SampleBootstrap.Compute(captionIds, new Dictionary<string, Func<int[], double>>
            {
                ["fid"] = fidBootstrap.Fid,
                ["clip_score"] = idx => ClipScoreAccumulator.Final(torchmetrics.Convention, SampleBootstrap.Mean(torchmetrics.PairScores, idx)),
                ["clip_s"] = idx => ClipScoreAccumulator.Final(hessel.Convention, SampleBootstrap.Mean(hessel.PairScores, idx)),
            }, p.BootstrapResamples, p.BootstrapSeed, r => context.Progress.Report(r, p.BootstrapResamples, "resample"), ct);
        }
        await replicates.WriteAsync(context.OutputPath(SampleBootstrap.FileName), ct);
        var refLabel = provenance.GetValueOrDefault("source") == "imported" ? $"imported {provenance.GetValueOrDefault("file")}"
            : $"computed from {provenance.GetValueOrDefault("images")} {provenance.GetValueOrDefault("split")} images";
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"),
        [
            new MetricRow("fid", fid, "", new Dictionary<string, string> { ["features"] = "FID Inception-v3 pool3 (pytorch-fid weights)", ["reference"] = refLabel, ["images"] = done.ToString() }),
            new MetricRow("clip_score", tm.Value, "", new Dictionary<string, string> { ["convention"] = tm.Name, ["model"] = "openai/clip-vit-large-patch14" }),
            new MetricRow("clip_s", cs.Value, "", new Dictionary<string, string> { ["convention"] = cs.Name, ["model"] = "openai/clip-vit-large-patch14" }),
            new MetricRow("images", done, "count"),
        ], ct: ct);
        context.Summary["fid"] = fid.ToString("F3");
        context.Summary["clip_score"] = tm.Value.ToString("F3");
        context.Summary["clip_s"] = cs.Value.ToString("F4");
    }
}
