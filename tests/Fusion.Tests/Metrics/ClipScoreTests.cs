using Fusion.Models.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Metrics;

public class ClipScoreTests
{
    // Three pairs with cosines 0.6, 0.28 and −0.8 (image and text embeddings of different norms).
    private static readonly Tensor Images = tensor(new float[] { 3, 4, 0, 1, 0, 0, 0, 2, 0 }, [3, 3]);
    private static readonly Tensor Texts = tensor(new float[] { 2, 0, 0, 0.28f, 0.96f, 0, 0, -1.6f, 1.2f }, [3, 3]);

    [Fact]
    public void TorchmetricsIsHundredTimesTheMeanCosineClampedAfterAveraging()
    {
        var s = ClipScores.Compute(ClipScoreConvention.Torchmetrics, Images, Texts);
        Assert.Equal(100 * (0.6 + 0.28 - 0.8) / 3, s.Value, 5);
        Assert.Equal(3, s.Pairs);
        // Only the mean is clamped at 0 (as torchmetrics' code does), not each pair.
        Assert.Equal(0, ClipScores.Compute(ClipScoreConvention.Torchmetrics, Images[2..3], Texts[2..3]).Value);
    }

    [Fact]
    public void HesselClipSClampsEachPairAndScalesByTwoPointFive()
    {
        var s = ClipScores.Compute(ClipScoreConvention.HesselClipS, Images, Texts);
        Assert.Equal(2.5 * (0.6 + 0.28 + 0) / 3, s.Value, 6);
        Assert.Equal("A photo depicts a cat on a mat", ClipScores.TextFor(ClipScoreConvention.HesselClipS, "a cat on a mat"));
        Assert.Equal("a cat on a mat", ClipScores.TextFor(ClipScoreConvention.Torchmetrics, "a cat on a mat"));
    }

    [Fact]
    public void StreamingEqualsOneShotAndEveryNumberNamesItsConvention()
    {
        var acc = new ClipScoreAccumulator(ClipScoreConvention.HesselClipS);
        acc.Add(Images[..2], Texts[..2]);
        acc.Add(Images[2..], Texts[2..]);
        var streamed = acc.Result();
        Assert.Equal(ClipScores.Compute(ClipScoreConvention.HesselClipS, Images, Texts), streamed);
        Assert.Contains("Hessel", streamed.ToString());
        Assert.Contains("n = 3", streamed.ToString());
        Assert.Contains("torchmetrics", ClipScores.Compute(ClipScoreConvention.Torchmetrics, Images, Texts).ToString());
        Assert.Throws<ArgumentException>(() => acc.Add(Images, Texts[..2]));
        Assert.Throws<InvalidOperationException>(() => new ClipScoreAccumulator(ClipScoreConvention.Torchmetrics).Result());
    }
}
