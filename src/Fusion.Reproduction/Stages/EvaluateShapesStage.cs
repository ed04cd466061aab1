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
        var data = context.Input("data");
        var clipInput = context.Input("clip");
        var (clip, spec) = ShapesClipSpec.LoadTrained(await clipInput.GetPathAsync(ShapesClipSpec.SpecFile, ct), await clipInput.GetPathAsync(ShapesClipSpec.WeightsFile, ct), device);
        using var _ = clip;
        var tokenizer = spec.Tokenizer();

        var evalCaptions = (await CaptionsTable.ReadAllAsync((await context.Input("text").PathsAsync("eval", "captions.parquet", ct)).Single(), ct))
            .ToDictionary(c => c.CaptionId);
        var meanings = await ShapesDataset.ReadCaptionMeaningsAsync((await data.PathsAsync("val", "caption_meta.parquet", ct)).Single(), ct);
        var (valImages, _) = await ShapesClipStage.LoadSplitAsync(data, "val", ct);

        // Images to score (uint8 [N, 3, S, S]) with the caption each was drawn for.
        Tensor images;
        long[] captionIds;
        var generated = context.Inputs.TryGetValue("samples", out var s) && s.Count == 1;
        if (generated)
        {
            // Samples are keyed by the caption they were drawn for.
            var samples = await TableTensors.ReadAsync(await context.Input("samples").PathsAsync("samples", ".parquet", ct), ct);
            (images, captionIds) = (samples.Values, samples.Keys);
        }
        else
        {
            var valIds = await ReadImageIdsAsync((await data.PathsAsync("val", "images.parquet", ct)).Single(), ct);
            var row = valIds.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => (long)x.i);
            var ordered = evalCaptions.Values.OrderBy(c => c.ImageId).ToList();
            images = valImages.index_select(0, tensor(ordered.Select(c => row[c.ImageId]).ToArray()));
            captionIds = ordered.Select(c => c.CaptionId).ToArray();
        }
        using var __ = images;
        var n = (int)images.shape[0];
        var size = (int)images.shape[^1];

        // Exact alignment.
        var results = new List<AlignmentResult>(n);
        var hwc = images.permute(0, 2, 3, 1).contiguous().data<byte>().ToArray();
        var per = 3 * size * size;
        for (var i = 0; i < n; i++)
        {
            var meaning = meanings.TryGetValue(captionIds[i], out var m) ? m : throw new InvalidDataException($"caption {captionIds[i]} has no ground-truth meaning in {data.NodeId}");
            results.Add(AlignmentScorer.Score(hwc.AsSpan(i * per, per), size, meaning));
        }
        var summary = AlignmentScorer.Summarize(results);
        var chance = generated ? null : AlignmentScorer.CaptionBlind(results.Select(r => r.Objects).ToList(),
            captionIds.Select(id => meanings[id]).ToList());

        // CLIP Score and FID in the shapes CLIP's feature space.
        var clipScore = new ClipScoreAccumulator(ClipScoreConvention.Torchmetrics);
        using var sampleFeatures = new ActivationAccumulator(spec.Config.Vision.Width);
        var featureBatches = new List<Tensor>();
        using (no_grad())
            for (var start = 0; start < n; start += p.BatchSize)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var len = Math.Min(p.BatchSize, n - start);
                var pixels = ShapesClipSpec.Pixels(images.narrow(0, start, len)).to(device);
                var texts = captionIds.Skip(start).Take(len).Select(id => evalCaptions[id].Text).ToList();
                var ids = tensor(tokenizer.EncodeBatch(texts), [len, tokenizer.ContextLength]).to(device);
                clipScore.Add(clip.GetImageFeatures(pixels).cpu(), clip.GetTextFeatures(ids).cpu());
                var batchFeatures = clip.VisionModel.forward(pixels).cpu();
                sampleFeatures.Add(batchFeatures);
                featureBatches.Add(batchFeatures.DetachFromDisposeScope());
                context.Progress.Report(start + len, n, "image");
            }
        using var reference = new ActivationAccumulator(spec.Config.Vision.Width);
        using (no_grad())
            for (var start = 0; start < valImages.shape[0]; start += p.BatchSize)
            {
                using var scope = NewDisposeScope();
                var len = (int)Math.Min(p.BatchSize, valImages.shape[0] - start);
                reference.Add(clip.VisionModel.forward(ShapesClipSpec.Pixels(valImages.narrow(0, start, len)).to(device)).cpu());
            }
        using var a = sampleFeatures.Compute();
        using var b = reference.Compute();
        var fid = FrechetDistance.Compute(a, b);
        var score = clipScore.Result();

        SampleBootstrap replicates;
        using (var features = cat(featureBatches))
        using (var fidBootstrap = new FidBootstrap(features, b, device))
        {
            foreach (var f in featureBatches) f.Dispose();
            var pairScores = clipScore.PairScores;
            double Align(int[] idx, Func<AlignmentSummary, double> pick) => pick(AlignmentScorer.Summarize(idx.Select(i => results[i]).ToList()));
            var statistics = new Dictionary<string, Func<int[], double>>
            {
                ["fid"] = fidBootstrap.Fid,
                ["clip_score"] = idx => ClipScoreAccumulator.Final(clipScore.Convention, SampleBootstrap.Mean(pairScores, idx)),
                ["alignment_count"] = idx => Align(idx, x => x.CountAccuracy),
                ["alignment_colour"] = idx => Align(idx, x => x.ColourAccuracy),
                ["alignment_shape"] = idx => Align(idx, x => x.ShapeAccuracy),
                ["alignment_binding"] = idx => Align(idx, x => x.BindingAccuracy),
                ["alignment_all"] = idx => Align(idx, x => x.AllCorrect),
            };
            // Relation accuracy exists only where captions state relations (the default's single groups have none).
            if (summary.RelationImages > 0) statistics["alignment_relation"] = idx => Align(idx, x => x.RelationAccuracy);
            replicates = SampleBootstrap.Compute(captionIds, statistics, p.BootstrapResamples, p.BootstrapSeed, r => context.Progress.Report(r, p.BootstrapResamples, "resample"), ct);
        }
        await replicates.WriteAsync(context.OutputPath(SampleBootstrap.FileName), ct);

        var source = new Dictionary<string, string> { ["images"] = generated ? "generated" : "real" };
        Dictionary<string, string> With(params (string K, string V)[] extra) => new(source.Concat(extra.Select(e => KeyValuePair.Create(e.K, e.V))));
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"),
        [
            new MetricRow("fid", fid, "", With(("features", "shapes-clip image tower, pooled"), ("reference", $"all {valImages.shape[0]} val images"))),
            new MetricRow("clip_score", score.Value, "", With(("convention", score.Name), ("model", "shapes-clip"))),
            new MetricRow("alignment_count", summary.CountAccuracy, "fraction", With()),
            new MetricRow("alignment_colour", summary.ColourAccuracy, "fraction", With()),
            new MetricRow("alignment_shape", summary.ShapeAccuracy, "fraction", With()),
            new MetricRow("alignment_binding", summary.BindingAccuracy, "fraction", With()),
            new MetricRow("alignment_all", summary.AllCorrect, "fraction", With()),
            new MetricRow("images", n, "count", With()),
            .. summary.RelationImages == 0 ? [] : new[] { new MetricRow("alignment_relation", summary.RelationAccuracy, "fraction", With(("images_with_relation", summary.RelationImages.ToString()))) },
            .. chance is null ? [] : ChanceRows(chance, With(("captions", "every other image's (caption-blind)"))),
        ], ct: ct);
        context.Summary["fid"] = fid.ToString("F3");
        context.Summary["clip_score"] = score.Value.ToString("F3");
        context.Summary["alignment_all"] = summary.AllCorrect.ToString("F4");
        context.Summary["alignment_count"] = summary.CountAccuracy.ToString("F4");
        context.Summary["alignment_colour"] = summary.ColourAccuracy.ToString("F4");
        context.Summary["alignment_shape"] = summary.ShapeAccuracy.ToString("F4");
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

    private static async Task<List<long>> ReadImageIdsAsync(string path, CancellationToken ct)
    {
        await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
        var ids = new List<long>();
        for (var g = 0; g < reader.RowGroupCount; g++) ids.AddRange((await reader.ReadRowGroupAsync(g, payloads: false, ct)).Int64Keys!);
        return ids;
    }
}
