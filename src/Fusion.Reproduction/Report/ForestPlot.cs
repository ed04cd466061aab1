using ScottPlot;
using ScottPlot.TickGenerators;
using SkiaSharp;

namespace Fusion.Reproduction.Report;

/// <summary>One comparison's estimate of one claim: Lo/Hi are the 95 % interval (NaN = no interval: draw the point only).</summary>
public sealed record ForestRow(string Label, double Estimate, double Lo, double Hi, string Verdict);

/// <summary>
/// One claim: its rows share an x-axis in <paramref name="Unit"/>; <paramref name="Threshold"/> is the claim's decision
/// line (drawn as a vertical line); <paramref name="Margin"/> (null = none) draws a shaded band Threshold ± Margin (the
/// practical-equivalence band).
/// </summary>
public sealed record ForestPanel(string Claim, string Unit, double Threshold, double? Margin, IReadOnlyList<ForestRow> Rows);

public static partial class Chart
{
    // A panel is its chrome (claim above, ticks and unit below) plus one fixed-height line per row, so the image grows
    // by RowHeight per row and by PanelChrome per panel, under one heading.
    private const int HeadingHeight = 62, PanelChrome = 96, RowHeight = 28, PadTop = 34, PadBottom = 52, PadRight = 24;

    /// <summary>
    /// A forest plot: one panel per claim, stacked in one PNG <see cref="Width"/> px wide; each row an interval Lo..Hi
    /// with a dot at the estimate, coloured by its verdict, against the claim's threshold (dashed) and equivalence band
    /// (shaded). Rows with a non-finite estimate are left out, and panels left with no rows.
    /// </summary>
    public static byte[] Forest(string title, IReadOnlyList<ForestPanel> panels)
    {
        foreach (var row in panels.SelectMany(p => p.Rows))
            if (row.Lo > row.Hi) throw new ArgumentException($"forest plot '{title}': interval of '{row.Label}' has Lo > Hi");
        var drawn = panels.Select(p => p with { Rows = p.Rows.Where(r => double.IsFinite(r.Estimate)).ToList() })
            .Where(p => p.Rows.Count > 0).ToList();
        if (drawn.Count == 0) throw new ArgumentException($"forest plot '{title}' has no rows with a finite estimate");

        // Every panel gets the same left margin (the widest label), so the panels' x-axes line up.
        using var labelFont = new SKFont(ReportFonts.Sans, 12);
        var left = (int)Math.Ceiling(Math.Min(drawn.SelectMany(p => p.Rows).Max(r => labelFont.MeasureText(r.Label)), Width * 0.55)) + 20;
        var heights = drawn.Select(p => PanelChrome + RowHeight * p.Rows.Count).ToList();

        using var surface = SKSurface.Create(new SKImageInfo(Width, HeadingHeight + heights.Sum(), SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using (var headingFont = new SKFont(ReportFonts.Bold, 17))
        using (var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(title, Width / 2f, 26, SKTextAlign.Center, headingFont, ink);
        var verdicts = drawn.SelectMany(p => p.Rows).Select(r => r.Verdict.Trim().ToLowerInvariant()).Distinct()
            .OrderBy(v => Array.IndexOf(KnownVerdicts, v) is var k and >= 0 ? k : KnownVerdicts.Length).ToList();
        DrawKey(canvas, labelFont, verdicts, 46);
        var top = HeadingHeight;
        for (var i = 0; i < drawn.Count; i++)
        {
            using var plot = ForestPanelPlot(drawn[i], left);
            canvas.Save();
            canvas.ClipRect(new SKRect(0, top, Width, top + heights[i]));   // a plot clears its whole canvas before drawing
            plot.Render(canvas, new PixelRect(0, Width, top + heights[i], top));
            canvas.Restore();
            top += heights[i];
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static Plot ForestPanelPlot(ForestPanel panel, int left)
    {
        var plot = NewPlot(panel.Claim, panel.Unit, "");
        plot.Layout.Fixed(new PixelPadding(left, PadRight, PadBottom, PadTop));
        var xs = new List<double> { panel.Threshold };
        if (panel.Margin is { } margin && double.IsFinite(margin) && margin > 0)
        {
            var band = plot.Add.HorizontalSpan(panel.Threshold - margin, panel.Threshold + margin, Palette[0].WithAlpha(0.12));
            band.LineWidth = 0;
            xs.AddRange([panel.Threshold - margin, panel.Threshold + margin]);
        }
        plot.Add.VerticalLine(panel.Threshold, 1.5f, Colors.Black.WithAlpha(0.7), LinePattern.Dashed);

        // Row k sits at y = −k, so the first row is at the top.
        for (var k = 0; k < panel.Rows.Count; k++)
        {
            var row = panel.Rows[k];
            var color = VerdictColor(row.Verdict);
            xs.Add(row.Estimate);
            if (double.IsFinite(row.Lo) && double.IsFinite(row.Hi))
            {
                var segment = plot.Add.Line(row.Lo, -k, row.Hi, -k);
                segment.LineColor = color;
                segment.LineWidth = 2.5f;
                xs.AddRange([row.Lo, row.Hi]);
            }
            plot.Add.Marker(row.Estimate, -k, MarkerShape.FilledCircle, 10, color);
        }

        double lo = xs.Min(), hi = xs.Max(), span = hi - lo > 0 ? hi - lo : Math.Max(Math.Abs(hi), 1);
        plot.Axes.SetLimits(lo - 0.08 * span, hi + 0.08 * span, -(panel.Rows.Count - 1) - 0.68, 0.68);
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { LabelFormatter = TickLabel, TargetTickCount = 8 };
        plot.Axes.Left.TickGenerator = new NumericManual(
            Enumerable.Range(0, panel.Rows.Count).Select(k => (double)-k).ToArray(), panel.Rows.Select(r => r.Label).ToArray());
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Grid.YAxisStyle.IsVisible = false;
        return plot;
    }

    private static readonly string[] KnownVerdicts = ["supported", "not supported", "equivalent", "inconclusive", "not measured"];

    /// <summary>A centred line of coloured dots naming the verdicts that occur.</summary>
    private static void DrawKey(SKCanvas canvas, SKFont font, IReadOnlyList<string> verdicts, float baseline)
    {
        const float dot = 5, gap = 5, spacing = 20;
        var x = (Width - verdicts.Sum(v => 2 * dot + gap + font.MeasureText(v)) - spacing * (verdicts.Count - 1)) / 2;
        using var paint = new SKPaint { IsAntialias = true };
        foreach (var verdict in verdicts)
        {
            paint.Color = VerdictColor(verdict).ToSKColor();
            canvas.DrawCircle(x + dot, baseline - 4, dot, paint);
            paint.Color = new SKColor(0x33, 0x33, 0x33);
            canvas.DrawText(verdict, x + 2 * dot + gap, baseline, SKTextAlign.Left, font, paint);
            x += 2 * dot + gap + font.MeasureText(verdict) + spacing;
        }
    }

    private static Color VerdictColor(string verdict) => verdict.Trim().ToLowerInvariant() switch
    {
        "supported" => Color.FromHex("#2ca02c"),
        "not supported" => Color.FromHex("#d62728"),
        "equivalent" => Color.FromHex("#1f77b4"),
        _ => Color.FromHex("#7f7f7f"),
    };
}
