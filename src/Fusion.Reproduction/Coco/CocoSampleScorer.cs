using Fusion.Artifacts.Tables;
using Fusion.Models.Clip;
using Fusion.Models.Inception;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Statistics;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Coco;

/// <summary>A variant's COCO scores: its samples' FID statistics, FID against the reference, CLIP Score in both
/// conventions and every metric's bootstrap replicates over the samples.</summary>
public sealed record CocoScores(ActivationStatistics Statistics, double Fid, ClipScore ClipScore, ClipScore ClipS, SampleBootstrap Replicates) : IDisposable
{
    public void Dispose() => Statistics.Dispose();
}

/// <summary>
/// Scores samples a batch at a time: FID Inception-v3 pool3 features of the uint8 samples (the path of
/// <see cref="FidFeatures"/>), kept for the bootstrap, and CLIP Score in both conventions (torchmetrics, Hessel et al.'s
/// CLIP-S), each image against the caption it was drawn for; then FID against the reference and the bootstrap.
/// No reading or writing: the stage streams the shards through it.
/// </summary>
public sealed class CocoSampleScorer(FidInceptionV3 inception, ClipModel clip, ClipTokenizer tokenizer, IReadOnlyDictionary<long, CaptionRow> captions,
    string textNode, Device device) : IDisposable
{
    private readonly ClipScoreAccumulator torchmetrics = new(ClipScoreConvention.Torchmetrics);
    private readonly ClipScoreAccumulator hessel = new(ClipScoreConvention.HesselClipS);
    private readonly ActivationAccumulator features = new(FidFeatures.Dim);
    private readonly List<Tensor> featureBatches = [];   // float32 on the CPU: 30k × 2048 is 245 MB
    private readonly List<long> captionIds = [];

    /// <summary>Samples scored so far.</summary>
    public long Count => captionIds.Count;

    /// <summary>Scores one batch of uint8 samples of <paramref name="shape"/> [3, H, W], keyed by the caption each was drawn for.</summary>
    public void Add(IReadOnlyList<(long CaptionId, byte[] Pixels)> batch, IReadOnlyList<int> shape)
    {
        using var scope = NewDisposeScope();
        using var __ = no_grad();
        var images = tensor(batch.SelectMany(b => b.Pixels).ToArray(), [batch.Count, .. shape.Select(d => (long)d)]);
        var batchFeatures = FidFeatures.Of(inception, images, device);
        features.Add(batchFeatures);
        featureBatches.Add(batchFeatures.to(float32, CPU).DetachFromDisposeScope());
        captionIds.AddRange(batch.Select(b => b.CaptionId));
        var texts = batch.Select(b => captions.TryGetValue(b.CaptionId, out var c) ? c.Text
            : throw new InvalidDataException($"sample keyed by caption {b.CaptionId} has no evaluation caption in {textNode}")).ToList();
        var imageEmbeds = clip.GetImageFeatures(ClipImagePreprocessor.Preprocess(images, clip.Config.ImageSize).to(device)).cpu();
        torchmetrics.Add(imageEmbeds, clip.GetTextFeatures(tokenizer.Tokenize(texts, ClipTokenizerOptions.HuggingFace with { ContextLength = clip.Config.ContextLength }).to(device)).cpu());
        var prefixed = texts.Select(t => ClipScores.TextFor(ClipScoreConvention.HesselClipS, t)).ToList();
        hessel.Add(imageEmbeds, clip.GetTextFeatures(tokenizer.Tokenize(prefixed, ClipTokenizerOptions.OpenAI with { ContextLength = clip.Config.ContextLength }).to(device)).cpu());
    }

    /// <summary>The scores of every sample added, FID against <paramref name="reference"/>.</summary>
    public CocoScores Finish(ActivationStatistics reference, int resamples, long seed, Action<int> progress, CancellationToken ct)
    {
        var stats = features.Compute();
        var fid = FrechetDistance.Compute(stats, reference);
        var (tm, cs) = (torchmetrics.Result(), hessel.Result());
        using var all = cat(featureBatches);
        using var fidBootstrap = new FidBootstrap(all, reference, device);
        foreach (var f in featureBatches) f.Dispose();
        var replicates = SampleBootstrap.Compute(captionIds, new Dictionary<string, Func<int[], double>>
        {
            ["fid"] = fidBootstrap.Fid,
            ["clip_score"] = idx => ClipScoreAccumulator.Final(torchmetrics.Convention, SampleBootstrap.Mean(torchmetrics.PairScores, idx)),
            ["clip_s"] = idx => ClipScoreAccumulator.Final(hessel.Convention, SampleBootstrap.Mean(hessel.PairScores, idx)),
        }, resamples, seed, progress, ct);
        return new CocoScores(stats, fid, tm, cs, replicates);
    }

    public void Dispose() => features.Dispose();
}
