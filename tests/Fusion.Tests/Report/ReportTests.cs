using Fusion.Reproduction.Report;
using SkiaSharp;

namespace Fusion.Tests.Report;

public class ReportTests
{
    private static VariantResult V(string name, double gmacs, double sps, double? fid = null, double? clip = null) =>
        new(name, ForwardGMacs: gmacs, TrainStepsPerSecond: sps, Fid: fid, ClipScore: clip);

    [Fact]
    public void ClaimsAreJudgedPerConditioningPair()
    {
        var rows = Claims.Evaluate(
        [
            V("early-concat", 16.2, 1.0, fid: 10, clip: 25), V("intermediate-concat", 12.9, 1.6, fid: 9, clip: 26),
            V("early-cross", 16.0, 1.0, fid: 11, clip: 24), V("intermediate-cross", 14.5, 1.2, fid: 12, clip: 25),
        ]);
        var byClaim = rows.ToDictionary(r => r.Claim[..8], r => r.Verdict);
        Assert.Equal(Verdict.Supported, byClaim["Higher C"]);      // 26 > 25 and 25 > 24
        Assert.Equal(Verdict.NotSupported, byClaim["Lower FI"]);   // cross pair: 12 > 11
        Assert.Equal(Verdict.NotSupported, byClaim["≈20 % fe"]);   // cross pair: 9.4 % < 15 %
        Assert.Equal(Verdict.NotSupported, byClaim["≈50 % fa"]);   // cross pair: +20 %
        Assert.Contains("20.4 % fewer", rows[2].Measurement);
    }

    [Fact]
    public void MissingFiguresAreNotMeasuredButAFailureWins()
    {
        var rows = Claims.Evaluate([V("early-concat", 16, 1, fid: 10), V("intermediate-concat", 12, 2, fid: 11)]);
        Assert.Equal(Verdict.NotMeasured, rows[0].Verdict);       // no CLIP score anywhere
        Assert.Equal(Verdict.NotSupported, rows[1].Verdict);      // concat pair fails, cross pair missing
        Assert.Equal(Verdict.NotMeasured, rows[2].Verdict);       // concat pair passes, cross pair missing
        Assert.Contains("not measured", rows[2].Measurement);
    }

    [Fact]
    public void ChartsAndGridsArePngsOfTheExpectedSize()
    {
        var line = Chart.Line("loss", "step", "loss", [new Series("a", [(0, 1.0), (1, 0.5), (2, 0.25)])], logY: true);
        using (var bmp = SKBitmap.Decode(line)) Assert.Equal((720, 420), (bmp.Width, bmp.Height));
        var bars = Chart.Bars("GMACs", "GMACs", [("early", 16.2), ("intermediate", 12.9)]);
        Assert.NotNull(SKBitmap.Decode(bars));

        var pixels = new float[2 * 2 * 3 * 4 * 4];
        pixels[0] = 1f;                                              // image 0, red channel, pixel (0,0)
        var grid = SampleGrid.Png(pixels, 4, 4, ["first", "second"], columns: 2, scale: 2);
        using var g = SKBitmap.Decode(grid);
        Assert.Equal(2 * (8 + 4) + 4, g.Width);
        Assert.Equal(new SKColor(255, 0, 0), g.GetPixel(4, 4 + 18));  // top-left pixel of image 0, upscaled
        Assert.Equal(new SKColor(0, 0, 0), g.GetPixel(4 + 2, 4 + 18));
    }

    [Theory]
    [InlineData(0.5f / 255f, 1)]       // floor(x·255 + 0.5): .5 rounds up like torchvision, not to even
    [InlineData(1.5f / 255f, 2)]
    [InlineData(-0.2f, 0)]
    [InlineData(1.7f, 255)]
    public void PixelQuantisationMatchesSaveImage(float value, byte expected) => Assert.Equal(expected, SampleGrid.Byte(value));
}
