using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Fusion.Reproduction.Report;

/// <summary>One line of a line chart, with an optional shaded band (e.g. a 95 % interval) drawn behind it.</summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, IReadOnlyList<(double X, double Lo, double Hi)>? Band = null);

/// <summary>
/// The report's PNG charts (ScottPlot 5): line charts of curves and bar charts of per-variant figures, 720 × 420 px,
/// and forest plots of the claims (ForestPlot.cs), 720 px wide and as tall as their rows need; DejaVu Sans,
/// invariant-culture tick labels. The same data always gives the same bytes.
/// </summary>
public static partial class Chart
{
    public const int Width = 720, Height = 420;

    // Tableau 10, as matplotlib's default cycle: the variants keep their colours across charts.
    private static readonly Color[] Palette =
        [Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"), Color.FromHex("#9467bd"),
         Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f"), Color.FromHex("#bcbd22"), Color.FromHex("#17becf")];

    /// <param name="logY">Plot log10(y) with ticks labelled in y; points with y ≤ 0 are left out.</param>
    public static byte[] Line(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, bool logY = false)
    {
        bool Keep(double x, double y) => double.IsFinite(x) && double.IsFinite(y) && (!logY || y > 0);
        double Fy(double y) => logY ? Math.Log10(y) : y;
        if (!series.Any(s => s.Points.Any(p => Keep(p.X, p.Y)))) throw new ArgumentException($"chart '{title}' has no finite points");

        using var plot = NewPlot(title, xLabel, yLabel);
        for (var i = 0; i < series.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            if (series[i].Band is { } band)
            {
                var shaded = band.Where(b => Keep(b.X, b.Lo) && Keep(b.X, b.Hi)).Select(b => (b.X, Fy(b.Lo), Fy(b.Hi))).ToList();
                if (shaded.Count > 1)
                {
                    var fill = plot.Add.FillY(shaded);
                    fill.FillColor = color.WithAlpha(0.2);
                    fill.LineWidth = 0;
                }
            }
            var points = series[i].Points.Where(p => Keep(p.X, p.Y)).ToArray();
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => Fy(p.Y)).ToArray(), color);
            line.LegendText = series[i].Name;
            line.LineWidth = 2;
            line.MarkerSize = points.Length <= 30 ? 6 : 0;   // dots only where the points are few enough to tell apart
        }
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { LabelFormatter = TickLabel, TargetTickCount = 6 };
        plot.Axes.AutoScale();
        var y = plot.Axes.GetLimits();
        plot.Axes.Left.TickGenerator = logY ? Manual(LogTicks(y.Bottom, y.Top)) : new NumericAutomatic { LabelFormatter = TickLabel };
        plot.ShowLegend(Edge.Right);
        plot.Legend.FontName = ReportFonts.ChartFamily;
        plot.Legend.FontSize = 12;
        return Png(plot);
    }

    /// <param name="unit">The y-axis label.</param>
    /// <param name="intervals">Optional error bar per bar (e.g. a 95 % interval), in the bars' order; an interval with
    /// a non-finite end draws no error bar for its bar.</param>
    public static byte[] Bars(string title, string unit, IReadOnlyList<(string Label, double Value)> bars,
        IReadOnlyList<(double Lo, double Hi)>? intervals = null)
    {
        if (bars.Count == 0) throw new ArgumentException($"chart '{title}' has no bars");
        if (bars.FirstOrDefault(b => !double.IsFinite(b.Value)) is { Label: { } bad }) throw new ArgumentException($"chart '{title}': bar '{bad}' is not finite");
        if (intervals is not null && intervals.Count != bars.Count)
            throw new ArgumentException($"chart '{title}': {intervals.Count} intervals for {bars.Count} bars");
        var errors = Enumerable.Range(0, bars.Count)
            .Where(i => intervals is not null && double.IsFinite(intervals[i].Lo) && double.IsFinite(intervals[i].Hi)).ToList();
        if (errors.FirstOrDefault(i => intervals![i].Lo > intervals[i].Hi, -1) is var inverted and >= 0)
            throw new ArgumentException($"chart '{title}': interval of '{bars[inverted].Label}' has Lo > Hi");

        using var plot = NewPlot(title, "", unit);
        plot.Add.Bars(bars.Select((b, i) => new Bar
        {
            Position = i, Value = b.Value, Size = 0.7, FillColor = Palette[i % Palette.Length], LineWidth = 0,
        }).ToList());
        if (errors.Count > 0)
        {
            var whiskers = new ScottPlot.Plottables.ErrorBar(
                errors.Select(i => (double)i).ToList(), errors.Select(i => bars[i].Value).ToList(), null, null,
                errors.Select(i => intervals![i].Hi - bars[i].Value).ToList(), errors.Select(i => bars[i].Value - intervals![i].Lo).ToList())
            {
                Color = Colors.Black, LineWidth = 1.5f, CapSize = 10,
            };
            plot.Add.Plottable(whiskers);
        }
        // Value labels sit above the bar or its error bar (below both for negative bars), never across a whisker.
        double Top(int i) => errors.Contains(i) ? Math.Max(bars[i].Value, intervals![i].Hi) : bars[i].Value;
        double Bottom(int i) => errors.Contains(i) ? Math.Min(bars[i].Value, intervals![i].Lo) : bars[i].Value;
        for (var i = 0; i < bars.Count; i++)
        {
            var negative = bars[i].Value < 0;
            var text = plot.Add.Text(Format(bars[i].Value), i, negative ? Bottom(i) : Top(i));
            text.LabelFontName = ReportFonts.ChartFamily;
            text.LabelFontSize = 12;
            text.Alignment = negative ? Alignment.UpperCenter : Alignment.LowerCenter;
            text.OffsetY = negative ? 3 : -3;
        }

        double lo = Math.Min(0, Enumerable.Range(0, bars.Count).Min(Bottom)), hi = Math.Max(0, Enumerable.Range(0, bars.Count).Max(Top));
        if (hi - lo <= 0) hi = 1;
        var room = 0.12 * (hi - lo);                          // head room for the value labels
        plot.Axes.SetLimits(-0.6, bars.Count - 0.4, lo < 0 ? lo - room : 0, hi > 0 ? hi + room : 0);
        plot.Axes.Left.TickGenerator = new NumericAutomatic { LabelFormatter = TickLabel };
        plot.Axes.Bottom.TickGenerator = new NumericManual(Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray(), bars.Select(b => b.Label).ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Grid.XAxisStyle.IsVisible = false;
        // Names that would run into each other at this width are slanted.
        double widest = bars.Max(b => b.Label.Length) * 7.5, slot = (Width - 120) / (double)bars.Count;
        if (widest > slot)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            // Room for the slanted names: below (sin 30°) and, for the first bar's, to the left (cos 30°).
            plot.Axes.Bottom.MinimumSize = (float)(widest * 0.5 + 16);
            plot.Axes.Left.MinimumSize = (float)Math.Max(60, widest * 0.87 - slot / 2);
        }
        return Png(plot);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(ReportFonts.ChartFamily);
        plot.Title(title, 15);
        plot.Axes.Title.Label.Bold = true;
        plot.XLabel(xLabel, 13);
        plot.YLabel(yLabel, 13);
        foreach (var axis in new IAxis[] { plot.Axes.Bottom, plot.Axes.Left }) axis.TickLabelStyle.FontSize = 12;
        return plot;
    }

    private static byte[] Png(Plot plot) => plot.GetImageBytes(Width, Height, ImageFormat.Png);

    /// <summary>
    /// Ticks for log10(y) in [lo, hi]: over a decade or more 1-2-5 steps (decades only beyond three), otherwise evenly
    /// spaced round values of y, so a curve from 1.0 to 0.3 still gets five labelled ticks.
    /// </summary>
    /// <returns>Positions in log10(y), each with its label, or null for a minor tick.</returns>
    public static IReadOnlyList<(double Position, string? Label)> LogTicks(double lo, double hi)
    {
        var ticks = new List<(double, string?)>();
        double vlo = Math.Pow(10, lo), vhi = Math.Pow(10, hi);
        if (hi - lo >= 1)
        {
            double[] majors = hi - lo > 3 ? [1] : [1, 2, 5];
            for (var d = (int)Math.Floor(lo); d <= (int)Math.Ceiling(hi); d++)
            for (var m = 1; m <= 9; m++)
            {
                var v = m * Math.Pow(10, d);
                if (v < vlo || v > vhi) continue;
                ticks.Add((Math.Log10(v), majors.Contains(m) ? TickLabel(v) : null));
            }
            return ticks;
        }
        // The coarsest 1-2-5 step that still labels at least five values.
        var step = NiceStep((vhi - vlo) / 5);
        while (Math.Floor(vhi / step) - Math.Ceiling(vlo / step) + 1 < 5) step = SmallerStep(step);
        var decimals = Math.Max(0, (int)Math.Ceiling(-Math.Log10(step) - 1e-9));   // as many as the step needs, so labels differ
        for (var k = Math.Ceiling(vlo / step); k * step <= vhi; k++)
        {
            var v = k * step;
            if (v > 0) ticks.Add((Math.Log10(v), v.ToString("F" + decimals, CultureInfo.InvariantCulture)));
        }
        return ticks;
    }

    private static NumericManual Manual(IEnumerable<(double Position, string? Label)> ticks)
    {
        var manual = new NumericManual();
        foreach (var (position, label) in ticks)
            if (label is null) manual.AddMinor(position); else manual.AddMajor(position, label);
        return manual;
    }

    /// <summary>The 1, 2 or 5 × 10^k nearest at or below <paramref name="raw"/>.</summary>
    private static double NiceStep(double raw)
    {
        var p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        return raw / p >= 5 ? 5 * p : raw / p >= 2 ? 2 * p : p;
    }

    /// <summary>5 → 2 → 1 → 0.5 … × 10^k.</summary>
    private static double SmallerStep(double step)
    {
        var p = Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
        var m = Math.Round(step / p);
        return m >= 5 ? 2 * p : m >= 2 ? p : 0.5 * p;
    }

    /// <summary>A bar's value label: four significant digits, scientific outside 1e-3 … 1e6.</summary>
    internal static string Format(double v) => Significant(v, 4);

    /// <summary>A tick label: six significant digits, enough to tell apart the ticks of a narrow range, and none of
    /// the floating-point noise of tick positions (0.30000000000000004).</summary>
    private static string TickLabel(double v) => Significant(v, 6);

    private static string Significant(double v, int digits)
    {
        if (v == 0) return "0";
        var a = Math.Abs(v);
        if (a < 1e-3 || a >= 1e6) return v.ToString("0.##e0", CultureInfo.InvariantCulture);
        return Math.Round(v, Math.Max(0, digits - 1 - (int)Math.Floor(Math.Log10(a)))).ToString("#,0.#########", CultureInfo.InvariantCulture);
    }
}
