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
        var (reference, provenance) = await ArtifactReaders.ReadFidReferenceAsync(context.Input("reference"), ct);
        using var _r = reference;
        using var inception = FidInceptionV3.FromCheckpoint(await ArtifactReaders.WeightsPathAsync(context.Input("inception"), PretrainedComponents.Inception, ct));
        inception.to(device);
        var (clip, tokenizer) = await LoadClipAsync(context.Input("clip"), device, ct);
        using var _c = clip;
        using var scorer = new CocoSampleScorer(inception, clip, tokenizer, captions, context.Input("text").NodeId, device);
        await ScoreSamplesAsync(context, scorer, p.BatchSize, ct);
        using var scores = scorer.Finish(reference, p.BootstrapResamples, p.BootstrapSeed, r => context.Progress.Report(r, p.BootstrapResamples, "resample"), ct);

        // Kept so the samples can be scored against another reference without running Inception again.
        await FidStatistics.WriteAsync(context.OutputPath("statistics.parquet"), scores.Statistics, new Dictionary<string, string> { ["features"] = "FID Inception-v3 pool3" }, ct);
        await scores.Replicates.WriteAsync(context.OutputPath(SampleBootstrap.FileName), ct);
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"), Rows(scores, provenance, scorer.Count), ct: ct);
        context.Summary["fid"] = scores.Fid.ToString("F3");
        context.Summary["clip_score"] = scores.ClipScore.Value.ToString("F3");
        context.Summary["clip_s"] = scores.ClipS.Value.ToString("F4");
    }

    private static async Task<(ClipModel Clip, ClipTokenizer Tokenizer)> LoadClipAsync(InputArtifact clipInput, Device device, CancellationToken ct)
    {
        var tokenizer = ClipTokenizer.FromHuggingFaceFiles(await ArtifactReaders.WeightsPathAsync(clipInput, PretrainedComponents.ClipVocab, ct),
            await ArtifactReaders.WeightsPathAsync(clipInput, PretrainedComponents.ClipMerges, ct));
        var clip = ClipModel.Load(await ArtifactReaders.WeightsPathAsync(clipInput, PretrainedComponents.ClipWeights, ct), await ComponentConfigs.ClipAsync(clipInput, ct));
        clip.to(device).eval();
        return (clip, tokenizer);
    }

    /// <summary>Streams the sample shards through <paramref name="scorer"/> a batch at a time, so 30k samples never sit in memory at once.</summary>
    private static async Task ScoreSamplesAsync(StageContext context, CocoSampleScorer scorer, int batchSize, CancellationToken ct)
    {
        var shards = await context.Input("samples").PathsAsync("samples", ".parquet", ct);
        long total = 0;
        foreach (var s in shards) { await using var r = await TensorTableReader.OpenAsync(s, ct: ct); total += r.RowCount; }
        foreach (var path in shards)
        {
            await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
            if (reader.Spec.DType != TensorDType.UInt8 || reader.Spec.Shape.Count != 3 || reader.Spec.Shape[0] != 3)
                throw new InvalidDataException($"{path}: samples must be uint8 [3, H, W], got {reader.Spec}");
            var batch = new List<(long, byte[])>();
            await foreach (var row in reader.ReadAllAsync(ct))
            {
                batch.Add((row.Int64Key, row.Payload));
                if (batch.Count < batchSize) continue;
                scorer.Add(batch, reader.Spec.Shape);
                batch.Clear();
                context.Progress.Report(scorer.Count, total, "image");
                ct.ThrowIfCancellationRequested();
            }
            if (batch.Count > 0) { scorer.Add(batch, reader.Spec.Shape); context.Progress.Report(scorer.Count, total, "image"); }
        }
    }

    private static List<MetricRow> Rows(CocoScores scores, IReadOnlyDictionary<string, string> provenance, long images)
    {
        var refLabel = provenance.GetValueOrDefault("source") == "imported" ? $"imported {provenance.GetValueOrDefault("file")}"
            : $"computed from {provenance.GetValueOrDefault("images")} {provenance.GetValueOrDefault("split")} images";
        var (tm, cs) = (scores.ClipScore, scores.ClipS);
        return
        [
            new MetricRow("fid", scores.Fid, "", new Dictionary<string, string> { ["features"] = "FID Inception-v3 pool3 (pytorch-fid weights)", ["reference"] = refLabel, ["images"] = images.ToString() }),
            new MetricRow("clip_score", tm.Value, "", new Dictionary<string, string> { ["convention"] = tm.Name, ["model"] = "openai/clip-vit-large-patch14" }),
            new MetricRow("clip_s", cs.Value, "", new Dictionary<string, string> { ["convention"] = cs.Name, ["model"] = "openai/clip-vit-large-patch14" }),
            new MetricRow("images", images, "count"),
        ];
    }
}
