using Fusion.Artifacts.Tables;
using Fusion.Datasets.Shapes;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Shapes;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Stages;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class EvaluateShapesParams
{
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 256;
    /// <summary>Bootstrap replicates over the scored images (bootstrap.parquet); the report's intervals come from them.</summary>
    [ParamRange(Min = 2)]
    public int BootstrapResamples { get; set; } = Bootstrap.DefaultResamples;
    /// <summary>Every variant's evaluation must use the same seed: equal seeds and captions give a paired bootstrap.</summary>
    public long BootstrapSeed { get; set; } = Bootstrap.DefaultSeed;
}

/// <summary>
/// Scores images against their captions on the shapes benchmark: exact alignment accuracies (count, colour, shape,
/// binding, relation) from the deterministic scorer, the shapes CLIP Score (torchmetrics convention, 100·cos, with
/// the shapes CLIP), and FID in the shapes CLIP's image feature space (its pooled image-tower output) against all val
/// images. With a <c>samples</c> input it scores generated images; without, the real val images of the same captions
/// (the ceiling a perfect generator reaches) and, as <c>chance_alignment_*</c>, the floor: those real images scored
/// against each other's captions (a perfect generator that ignores its caption). <c>bootstrap.parquet</c> holds each metric's bootstrap replicates over
/// the scored images (FID: the generated features resampled against the fixed val statistics).
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge")]
public sealed class EvaluateShapesStage : StageKind<EvaluateShapesParams>
{
    public override string Name => "evaluate-shapes";
    public override string CodeVersion => "4";   // 4: the scorer labels pixels over the seven-colour palette
    public override IReadOnlyList<StageInput> Inputs => [new("samples", Optional: true), new("data"), new("clip"), new("text")];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet", SampleBootstrap.FileName];

    public override async Task RunAsync(StageContext context, EvaluateShapesParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var clipInput = context.Input("clip");
        var (clip, spec) = ShapesClipSpec.LoadTrained(await clipInput.GetPathAsync(ShapesClipSpec.SpecFile, ct), await clipInput.GetPathAsync(ShapesClipSpec.WeightsFile, ct), device);
        using var _ = clip;
        using var input = await LoadAsync(context, ct);
        var scores = new ShapesEvaluation(clip, spec, device, p.BatchSize, context.Progress, ct).Score(input, p.BootstrapResamples, p.BootstrapSeed);
        await scores.Replicates.WriteAsync(context.OutputPath(SampleBootstrap.FileName), ct);
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"), Rows(scores, input), ct: ct);
        context.Summary["fid"] = scores.Fid.ToString("F3");
        context.Summary["clip_score"] = scores.ClipScore.Value.ToString("F3");
        context.Summary["alignment_all"] = scores.Alignment.AllCorrect.ToString("F4");
        context.Summary["alignment_count"] = scores.Alignment.CountAccuracy.ToString("F4");
        context.Summary["alignment_colour"] = scores.Alignment.ColourAccuracy.ToString("F4");
        context.Summary["alignment_shape"] = scores.Alignment.ShapeAccuracy.ToString("F4");
    }

    /// <summary>
    /// The images to score with the caption each was drawn for: the samples (keyed by their caption), or without them
    /// the real val images of the evaluation captions (in image order); and the captions, their meanings and all val images.
    /// </summary>
    private static async Task<ShapesEvalInput> LoadAsync(StageContext context, CancellationToken ct)
    {
        var data = context.Input("data");
        var evalCaptions = (await CaptionsTable.ReadAllAsync((await context.Input("text").PathsAsync("eval", "captions.parquet", ct)).Single(), ct))
            .ToDictionary(c => c.CaptionId);
        var meanings = await ShapesDataset.ReadCaptionMeaningsAsync((await data.PathsAsync("val", "caption_meta.parquet", ct)).Single(), ct);
        var (valImages, _) = await ArtifactReaders.ReadShapesSplitAsync(data, "val", ct);
        if (context.Inputs.TryGetValue("samples", out var s) && s.Count == 1)
        {
            var samples = await TableTensors.ReadAsync(await context.Input("samples").PathsAsync("samples", ".parquet", ct), ct);
            return new ShapesEvalInput(samples.Values, samples.Keys, true, evalCaptions, meanings, valImages, data.NodeId);
        }
        var valIds = await ArtifactReaders.ReadImageIdsAsync((await data.PathsAsync("val", "images.parquet", ct)).Single(), ct);
        var row = valIds.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => (long)x.i);
        var ordered = evalCaptions.Values.OrderBy(c => c.ImageId).ToList();
        var images = valImages.index_select(0, tensor(ordered.Select(c => row[c.ImageId]).ToArray()));
        return new ShapesEvalInput(images, ordered.Select(c => c.CaptionId).ToArray(), false, evalCaptions, meanings, valImages, data.NodeId);
    }

    /// <summary>metrics.parquet: each metric labelled with what it was computed on.</summary>
    private static List<MetricRow> Rows(ShapesScores scores, ShapesEvalInput input)
    {
        var source = new Dictionary<string, string> { ["images"] = input.Generated ? "generated" : "real" };
        Dictionary<string, string> With(params (string K, string V)[] extra) => new(source.Concat(extra.Select(e => KeyValuePair.Create(e.K, e.V))));
        var (summary, score) = (scores.Alignment, scores.ClipScore);
        return
        [
            new MetricRow("fid", scores.Fid, "", With(("features", "shapes-clip image tower, pooled"), ("reference", $"all {input.ValImages.shape[0]} val images"))),
            new MetricRow("clip_score", score.Value, "", With(("convention", score.Name), ("model", "shapes-clip"))),
            new MetricRow("alignment_count", summary.CountAccuracy, "fraction", With()),
            new MetricRow("alignment_colour", summary.ColourAccuracy, "fraction", With()),
            new MetricRow("alignment_shape", summary.ShapeAccuracy, "fraction", With()),
            new MetricRow("alignment_binding", summary.BindingAccuracy, "fraction", With()),
            new MetricRow("alignment_all", summary.AllCorrect, "fraction", With()),
            new MetricRow("images", scores.Images, "count", With()),
            .. summary.RelationImages == 0 ? [] : new[] { new MetricRow("alignment_relation", summary.RelationAccuracy, "fraction", With(("images_with_relation", summary.RelationImages.ToString()))) },
            .. scores.Chance is not { } chance ? [] : ChanceRows(chance, With(("captions", "every other image's (caption-blind)"))),
        ];
    }

    /// <summary>The caption-blind floor next to each alignment metric: <c>chance_alignment_colour</c>, …</summary>
    private static IEnumerable<MetricRow> ChanceRows(AlignmentSummary chance, Dictionary<string, string> labels) =>
    [
        new("chance_alignment_count", chance.CountAccuracy, "fraction", labels),
        new("chance_alignment_colour", chance.ColourAccuracy, "fraction", labels),
        new("chance_alignment_shape", chance.ShapeAccuracy, "fraction", labels),
        new("chance_alignment_binding", chance.BindingAccuracy, "fraction", labels),
        .. chance.RelationImages == 0 ? [] : new[] { new MetricRow("chance_alignment_relation", chance.RelationAccuracy, "fraction", labels) },
        new("chance_alignment_all", chance.AllCorrect, "fraction", labels),
    ];
}
