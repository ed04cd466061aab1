using Fusion.Artifacts.Tables;
using Fusion.Datasets.Shapes;
using Fusion.Models.Clip;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Stages;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Shapes;

/// <summary>
/// What the shapes evaluation scores: images (uint8 [N, 3, S, S], generated or real) with the caption each was drawn
/// for, the captions' texts and ground-truth meanings, and all val images (the FID reference).
/// </summary>
public sealed record ShapesEvalInput(Tensor Images, long[] CaptionIds, bool Generated, IReadOnlyDictionary<long, CaptionRow> Captions,
    IReadOnlyDictionary<long, ShapesCaption> Meanings, Tensor ValImages, string DataNode) : IDisposable
{
    public void Dispose()
    {
        Images.Dispose();
        ValImages.Dispose();
    }
}

/// <summary>The shapes evaluation's results: exact alignment (and its caption-blind floor for real images), CLIP Score,
/// FID and every metric's bootstrap replicates over the scored images.</summary>
public sealed record ShapesScores(int Images, AlignmentSummary Alignment, AlignmentSummary? Chance, ClipScore ClipScore, double Fid, SampleBootstrap Replicates);

/// <summary>
/// Scores images against their captions with the exact scorer and the shapes CLIP (CLIP Score in the torchmetrics
/// convention, FID in its pooled image-tower feature space); no reading or writing.
/// </summary>
public sealed class ShapesEvaluation(ClipModel clip, ShapesClipSpec spec, Device device, int batchSize, IStageProgress progress, CancellationToken ct)
{
    public ShapesScores Score(ShapesEvalInput input, int resamples, long seed)
    {
        var results = Align(input);
        var summary = AlignmentScorer.Summarize(results);
        var chance = input.Generated ? null : AlignmentScorer.CaptionBlind(results.Select(r => r.Objects).ToList(),
            input.CaptionIds.Select(id => input.Meanings[id]).ToList());
        var clipScore = new ClipScoreAccumulator(ClipScoreConvention.Torchmetrics);
        using var sampleFeatures = new ActivationAccumulator(spec.Config.Vision.Width);
        var featureBatches = Featurize(input, clipScore, sampleFeatures);
        using var reference = ReferenceFeatures(input.ValImages);
        using var a = sampleFeatures.Compute();
        using var b = reference.Compute();
        var fid = FrechetDistance.Compute(a, b);
        var score = clipScore.Result();
        var replicates = Bootstrap(input.CaptionIds, results, summary, clipScore, featureBatches, b, resamples, seed);
        return new ShapesScores((int)input.Images.shape[0], summary, chance, score, fid, replicates);
    }

    /// <summary>Exact alignment of each image with the meaning of its caption.</summary>
    private static List<AlignmentResult> Align(ShapesEvalInput input)
    {
        var (n, size) = ((int)input.Images.shape[0], (int)input.Images.shape[^1]);
        var results = new List<AlignmentResult>(n);
        var hwc = input.Images.permute(0, 2, 3, 1).contiguous().data<byte>().ToArray();
        var per = 3 * size * size;
        for (var i = 0; i < n; i++)
        {
            var meaning = input.Meanings.TryGetValue(input.CaptionIds[i], out var m) ? m : throw new InvalidDataException($"caption {input.CaptionIds[i]} has no ground-truth meaning in {input.DataNode}");
            results.Add(AlignmentScorer.Score(hwc.AsSpan(i * per, per), size, meaning));
        }
        return results;
    }

    /// <summary>CLIP Score pairs and image features of the scored images, a batch at a time; returns the feature batches.</summary>
    private List<Tensor> Featurize(ShapesEvalInput input, ClipScoreAccumulator clipScore, ActivationAccumulator features)
    {
        var tokenizer = spec.Tokenizer();
        var n = (int)input.Images.shape[0];
        var featureBatches = new List<Tensor>();
        using (no_grad())
            for (var start = 0; start < n; start += batchSize)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var len = Math.Min(batchSize, n - start);
                var pixels = ShapesClipSpec.Pixels(input.Images.narrow(0, start, len)).to(device);
                var texts = input.CaptionIds.Skip(start).Take(len).Select(id => input.Captions[id].Text).ToList();
                var ids = tensor(tokenizer.EncodeBatch(texts), [len, tokenizer.ContextLength]).to(device);
                clipScore.Add(clip.GetImageFeatures(pixels).cpu(), clip.GetTextFeatures(ids).cpu());
                var batchFeatures = clip.VisionModel.forward(pixels).cpu();
                features.Add(batchFeatures);
                featureBatches.Add(batchFeatures.DetachFromDisposeScope());
                progress.Report(start + len, n, "image");
            }
        return featureBatches;
    }

    private ActivationAccumulator ReferenceFeatures(Tensor valImages)
    {
        var reference = new ActivationAccumulator(spec.Config.Vision.Width);
        using (no_grad())
            for (var start = 0; start < valImages.shape[0]; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var len = (int)Math.Min(batchSize, valImages.shape[0] - start);
                reference.Add(clip.VisionModel.forward(ShapesClipSpec.Pixels(valImages.narrow(0, start, len)).to(device)).cpu());
            }
        return reference;
    }

    /// <summary>Every metric recomputed on resampled images (FID: the generated features against the fixed val statistics).</summary>
    private SampleBootstrap Bootstrap(long[] captionIds, List<AlignmentResult> results, AlignmentSummary summary, ClipScoreAccumulator clipScore,
        List<Tensor> featureBatches, ActivationStatistics valStatistics, int resamples, long seed)
    {
        using var features = cat(featureBatches);
        using var fidBootstrap = new FidBootstrap(features, valStatistics, device);
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
        return SampleBootstrap.Compute(captionIds, statistics, resamples, seed, r => progress.Report(r, resamples, "resample"), ct);
    }
}
