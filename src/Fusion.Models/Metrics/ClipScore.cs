using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Metrics;

/// <summary>
/// The two CLIP Score definitions in use; they are different metrics (scale, clamp, prompt, tokeniser padding), so a
/// number never travels without its convention.
/// </summary>
public enum ClipScoreConvention
{
    /// <summary>torchmetrics `CLIPScore`: mean over pairs of 100·cos(E_img, E_txt), then max(mean, 0); caption as is.</summary>
    Torchmetrics,
    /// <summary>Hessel et al. (2021) CLIP-S: mean over pairs of 2.5·max(cos, 0); text "A photo depicts " + caption.</summary>
    HesselClipS,
}

/// <summary>A CLIP Score value with its convention and the number of image–caption pairs.</summary>
public sealed record ClipScore(double Value, ClipScoreConvention Convention, long Pairs)
{
    public string Name => ClipScores.Name(Convention);
    public override string ToString() => $"{Name} = {Value:F4} (n = {Pairs})";
}

public static class ClipScores
{
    public const string HesselPrefix = "A photo depicts ";

    public static string Name(ClipScoreConvention c) => c switch
    {
        ClipScoreConvention.Torchmetrics => "CLIP Score (torchmetrics, 100·cos)",
        ClipScoreConvention.HesselClipS => "CLIP-S (Hessel et al., 2.5·max(cos, 0), \"A photo depicts \" prefix)",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>The text to encode for a caption under a convention.</summary>
    public static string TextFor(ClipScoreConvention c, string caption) => c == ClipScoreConvention.HesselClipS ? HesselPrefix + caption : caption;

    /// <summary>CLIP Score of paired embeddings [N, E] (image and text features, not yet normalised).</summary>
    public static ClipScore Compute(ClipScoreConvention c, Tensor imageEmbeds, Tensor textEmbeds)
    {
        var acc = new ClipScoreAccumulator(c);
        acc.Add(imageEmbeds, textEmbeds);
        return acc.Result();
    }
}

/// <summary>Streaming CLIP Score: add batches of paired embeddings, read the mean with its convention.</summary>
public sealed class ClipScoreAccumulator(ClipScoreConvention convention)
{
    private double sum;
    private long pairs;
    private readonly List<double> pairScores = [];

    public ClipScoreConvention Convention { get; } = convention;

    /// <summary>Each pair's score in the order added (the mean's summands), for a bootstrap over pairs.</summary>
    public IReadOnlyList<double> PairScores => pairScores;

    public void Add(Tensor imageEmbeds, Tensor textEmbeds)
    {
        if (imageEmbeds.dim() != 2 || !imageEmbeds.shape.SequenceEqual(textEmbeds.shape))
            throw new ArgumentException($"CLIP Score needs paired embeddings [N, E]; got image {ActivationStatistics.Shape(imageEmbeds)} and text {ActivationStatistics.Shape(textEmbeds)}");
        using var scope = NewDisposeScope();
        var img = imageEmbeds.to(float64);
        var txt = textEmbeds.to(float64);
        var cos = (img * txt).sum(1) / (img.norm(1) * txt.norm(1));
        using var zero = 0.ToScalar();
        var perPair = Convention == ClipScoreConvention.HesselClipS ? cos.clamp_min(zero).Times(2.5) : cos.Times(100);
        sum += perPair.sum().item<double>();
        pairs += imageEmbeds.shape[0];
        pairScores.AddRange(perPair.cpu().data<double>().ToArray());
    }

    public ClipScore Result()
    {
        if (pairs == 0) throw new InvalidOperationException("CLIP Score of no pairs");
        return new ClipScore(Final(Convention, sum / pairs), Convention, pairs);
    }

    /// <summary>The score from the mean of pair scores: torchmetrics clamps the mean (its docstring says per sample; its
    /// code does max(score.mean(), 0)).</summary>
    public static double Final(ClipScoreConvention convention, double meanOfPairs) =>
        convention == ClipScoreConvention.Torchmetrics ? Math.Max(meanOfPairs, 0) : meanOfPairs;
}
