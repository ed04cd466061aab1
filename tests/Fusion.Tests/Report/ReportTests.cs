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

    private static readonly (string, double)[] FourBars = [("early-concat", 110.1), ("early-cross", 110.2), ("intermediate-concat", 109.0), ("intermediate-cross", 109.0)];

    /// <summary>Pixels darker than light grey in rows [from, to): text and lines, not the white background.</summary>
    private static int Ink(SKBitmap bmp, int from, int to)
    {
        var n = 0;
        for (var y = from; y < to; y++)
        for (var x = 0; x < bmp.Width; x++)
            if (bmp.GetPixel(x, y) is var c && c.Red < 160 && c.Green < 160 && c.Blue < 160) n++;
        return n;
    }

    [Fact]
    public void ChartsAreFixedSizeDeterministicPngsWithText()
    {
        var line = Chart.Line("loss", "step", "loss", [new Series("a", [(0, 1.0), (1, 0.5), (2, 0.25)], [(0, 0.9, 1.1), (2, 0.2, 0.3)])], logY: true);
        using (var bmp = SKBitmap.Decode(line))
        {
            Assert.Equal((Chart.Width, Chart.Height), (bmp.Width, bmp.Height));
            Assert.True(Ink(bmp, 0, 30) > 20, "no title drawn: is DejaVu Sans installed (infra/setup.sh)?");
        }
        var bars = Chart.Bars("FID", "FID", FourBars, [(105, 115), (106, 114), (104, 113), (double.NaN, double.NaN)]);
        Assert.Equal(bars, Chart.Bars("FID", "FID", FourBars, [(105, 115), (106, 114), (104, 113), (double.NaN, double.NaN)]));
        using var withBars = SKBitmap.Decode(bars);
        using var without = SKBitmap.Decode(Chart.Bars("FID", "FID", FourBars));
        Assert.Equal((Chart.Width, Chart.Height), (withBars.Width, withBars.Height));
        // The whiskers (black, above three of the bars) are the only difference: more ink, in the plot area.
        Assert.True(Ink(withBars, 30, Chart.Height - 60) > Ink(without, 30, Chart.Height - 60) + 60);
    }

    [Fact]
    public void BadBarDataIsRefused()
    {
        Assert.Contains("3 intervals for 4 bars", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", FourBars, [(0, 1), (0, 1), (0, 1)])).Message);
        Assert.Contains("Lo > Hi", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", FourBars, [(0, 1), (2, 1), (0, 1), (0, 1)])).Message);
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", [("a", double.NaN)])).Message);
        Assert.Throws<ArgumentException>(() => Chart.Line("t", "x", "y", [new Series("a", [(0, -1.0)])], logY: true));
    }

    [Theory]
    [InlineData(0.28, 1.05, "0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0")]            // a loss curve inside one decade: round values of y
    [InlineData(0.0019, 1.3, "0.002 0.005 0.01 0.02 0.05 0.1 0.2 0.5 1")]  // a few decades: 1-2-5
    [InlineData(9e-7, 11, "1e-6 1e-5 1e-4 0.001 0.01 0.1 1 10")]           // beyond three decades: decades only
    [InlineData(0.30005, 0.30042, "0.30010 0.30015 0.30020 0.30025 0.30030 0.30035 0.30040")]   // narrow: labels still differ
    public void LogAxisTicksAreRoundValues(double lo, double hi, string expected)
    {
        var ticks = Chart.LogTicks(Math.Log10(lo), Math.Log10(hi)).Where(t => t.Label is not null).ToList();
        Assert.Equal(expected, string.Join(" ", ticks.Select(t => t.Label)));
        Assert.All(ticks, t => Assert.InRange(t.Position, Math.Log10(lo), Math.Log10(hi)));
    }

    [Fact]
    public void GridsShowTheirImagesTheFullWrappedPromptsAndTheVariant()
    {
        const int size = 4, scale = 2;
        var pixels = new float[2 * 2 * 3 * size * size];
        pixels[0] = 1f;                                              // image 0, red channel, pixel (0,0)
        var longPrompt = string.Join(" ", Enumerable.Repeat("two blue triangles below a red square", 4));
        using var g = SKBitmap.Decode(SampleGrid.Png(pixels, size, size, ["first", longPrompt], columns: 2, scale, "intermediate-cross · seed=2", "note"));
        using var shortGrid = SKBitmap.Decode(SampleGrid.Png(pixels, size, size, ["first", "second"], columns: 2, scale, "intermediate-cross · seed=2", "note"));

        // Image 0's top-left pixel, upscaled 2×2, with image 0's black pixel (0,1) right of it.
        var red = Enumerable.Range(0, g.Height).SelectMany(y => Enumerable.Range(0, g.Width).Select(x => (x, y)))
            .Where(p => g.GetPixel(p.x, p.y) == new SKColor(255, 0, 0)).ToList();
        Assert.Equal(4, red.Count);
        var (x0, y0) = red[0];
        Assert.Equal([(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)], red);
        Assert.Equal(new SKColor(0, 0, 0), g.GetPixel(x0 + 2, y0));
        Assert.True(Ink(g, 0, 20) > 30, "no heading drawn: is DejaVu Sans installed (infra/setup.sh)?");
        Assert.True(Ink(g, y0 - 17, y0 - 2) > 10, "no prompt above the first row");
        // The long prompt wraps onto more lines (it is never cut), so its grid is taller by whole lines.
        Assert.True(g.Height >= shortGrid.Height + 3 * 15, $"{g.Height} vs {shortGrid.Height}");
        Assert.Equal("intermediate-cross · seed=2", SampleGrid.Title("sample[intermediate-cross/seed=2]"));
        Assert.Equal("early-concat", SampleGrid.Title("sample[early-concat]"));
    }

    [Theory]
    [InlineData(0.5f / 255f, 1)]       // floor(x·255 + 0.5): .5 rounds up like torchvision, not to even
    [InlineData(1.5f / 255f, 2)]
    [InlineData(-0.2f, 0)]
    [InlineData(1.7f, 255)]
    public void PixelQuantisationMatchesSaveImage(float value, byte expected) => Assert.Equal(expected, SampleGrid.Byte(value));
}
