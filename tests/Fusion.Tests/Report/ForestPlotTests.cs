using Fusion.Reproduction.Report;
using SkiaSharp;

namespace Fusion.Tests.Report;

public class ForestPlotTests
{
    private static ForestPanel Clip(params ForestRow[] rows) => new("Higher CLIP Score", "intermediate − early CLIP Score", 0, 1, rows);

    private static readonly ForestRow Cross = new("intermediate-cross vs early-concat", -5.9, -8.9, -3.0, "not supported");
    private static readonly ForestRow Concat = new("intermediate-concat vs early-concat", 0.3, -0.5, 0.8, "equivalent");
    private static readonly ForestRow Matched = new("intermediate-cross-matched vs early-concat", 2.5, 1.2, 3.9, "supported");

    private static int Count(byte[] png, Func<SKColor, bool> match)
    {
        using var bmp = SKBitmap.Decode(png);
        var n = 0;
        for (var y = 0; y < bmp.Height; y++)
        for (var x = 0; x < bmp.Width; x++)
            if (match(bmp.GetPixel(x, y))) n++;
        return n;
    }

    private static bool Green(SKColor c) => c.Green > c.Red + 60 && c.Green > c.Blue + 60;
    private static bool Red(SKColor c) => c.Red > c.Green + 60 && c.Red > c.Blue + 60;
    /// <summary>The band's light blue tint: pale, with blue clearly above red.</summary>
    private static bool Tint(SKColor c) => c.Red > 200 && c.Blue > c.Red + 10;

    private static (int Width, int Height) Size(byte[] png)
    {
        using var bmp = SKBitmap.Decode(png);
        return (bmp.Width, bmp.Height);
    }

    [Fact]
    public void A_forest_plot_is_720_px_wide_and_grows_with_its_rows_and_panels()
    {
        var one = Size(Chart.Forest("claims", [Clip(Cross)]));
        var two = Size(Chart.Forest("claims", [Clip(Cross, Concat)]));
        var three = Size(Chart.Forest("claims", [Clip(Cross, Concat, Matched)]));
        var twoPanels = Size(Chart.Forest("claims", [Clip(Cross, Concat), Clip(Matched)]));
        Assert.All(new[] { one, two, three, twoPanels }, s => Assert.Equal(Chart.Width, s.Width));
        Assert.True(one.Height < two.Height && two.Height < three.Height, $"{one.Height}, {two.Height}, {three.Height}");
        Assert.True(twoPanels.Height > three.Height, $"a second panel adds its own header: {twoPanels.Height} vs {three.Height}");
    }

    [Fact]
    public void The_same_input_gives_the_same_bytes()
    {
        ForestPanel[] panels = [Clip(Cross, Concat), new("≈20 % fewer FLOPs", "1 − intermediate/early MACs", 0.15, null, [new("x", 0.17, double.NaN, double.NaN, "supported")])];
        Assert.Equal(Chart.Forest("claims", panels), Chart.Forest("claims", panels));
    }

    [Fact]
    public void The_verdict_sets_the_colour_of_a_row()
    {
        // The interval spans about half the axis: hundreds of pixels, far more than the verdict's dot in the key.
        ForestRow Row(string verdict) => new("a vs b", 2.5, 1.2, 3.9, verdict);
        Assert.True(Count(Chart.Forest("claims", [Clip(Row("supported"))]), Green) > 300, "a supported row draws green");
        Assert.True(Count(Chart.Forest("claims", [Clip(Row("not supported"))]), Red) > 300, "a not-supported row draws red");
        var grey = Chart.Forest("claims", [Clip(Row("inconclusive"), Row("not measured") with { Label = "c vs d" })]);
        Assert.Equal(0, Count(grey, Green));
        Assert.Equal(0, Count(grey, Red));
        // Panels are stacked, not painted over: the first panel's colour survives the ones drawn after it.
        Assert.True(Count(Chart.Forest("claims", [Clip(Row("supported")), Clip(Row("inconclusive")), Clip(Row("not measured"))]), Green) > 300,
            "the first panel is still visible below the heading");
    }

    [Fact]
    public void The_margin_shades_an_equivalence_band()
    {
        var grey = Concat with { Verdict = "inconclusive" };   // no blue rows or key entries that could pass for the band
        var withBand = Chart.Forest("claims", [Clip(Cross, grey)]);
        var without = Chart.Forest("claims", [Clip(Cross, grey) with { Margin = null }]);
        Assert.NotEqual(withBand, without);
        Assert.True(Count(withBand, Tint) > Count(without, Tint) + 500, "the band is a shaded area, not a line");
        // Threshold 0 ± 1 on an axis from about −9 to 1: a narrow column across the rows, not a stripe across the panel.
        using var bmp = SKBitmap.Decode(withBand);
        var columns = Enumerable.Range(0, bmp.Width).Where(x => Enumerable.Range(0, bmp.Height).Any(y => Tint(bmp.GetPixel(x, y)))).ToList();
        Assert.InRange(columns.Max() - columns.Min(), 20, Chart.Width / 4);
    }

    [Fact]
    public void Rows_without_a_finite_estimate_are_left_out()
    {
        var skipped = new ForestRow("not measured vs early-concat", double.NaN, double.NaN, double.NaN, "not measured");
        Assert.Equal(Chart.Forest("claims", [Clip(Cross)]), Chart.Forest("claims", [Clip(Cross, skipped), Clip(skipped)]));
    }

    [Fact]
    public void A_plot_with_no_drawable_rows_is_refused()
    {
        var nan = new ForestRow("a vs b", double.NaN, 0, 1, "not measured");
        Assert.Contains("'claims'", Assert.Throws<ArgumentException>(() => Chart.Forest("claims", [Clip(nan)])).Message);
        Assert.Contains("'claims'", Assert.Throws<ArgumentException>(() => Chart.Forest("claims", [])).Message);
    }

    [Fact]
    public void An_inverted_interval_is_refused_naming_its_row()
    {
        var inverted = new ForestRow("early-cross vs early-concat", 1, 2, 0.5, "supported");
        var e = Assert.Throws<ArgumentException>(() => Chart.Forest("claims", [Clip(Cross, inverted)]));
        Assert.Contains("'early-cross vs early-concat'", e.Message);
        Assert.Contains("Lo > Hi", e.Message);
    }
}
