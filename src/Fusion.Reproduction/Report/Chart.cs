using SkiaSharp;

namespace Fusion.Reproduction.Report;

/// <summary>One line of a line chart.</summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>Small PNG charts for the report (line charts of curves, bar charts of per-variant figures).</summary>
public static class Chart
{
    private const int W = 720, H = 420, Left = 80, Right = 170, Top = 40, Bottom = 60;
    private static readonly SKColor[] Palette =
        [new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd), new(0x8c, 0x56, 0x4b)];

    public static byte[] Line(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, bool logY = false)
    {
        var pts = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.Y) && (!logY || p.Y > 0)).ToList();
        if (pts.Count == 0) throw new ArgumentException($"chart '{title}' has no finite points");
        Func<double, double> fy = logY ? Math.Log10 : y => y;
        var (x0, x1) = Range(pts.Select(p => p.X));
        var (y0, y1) = Range(pts.Select(p => fy(p.Y)));
        return Draw(title, xLabel, yLabel + (logY ? " (log10)" : ""), (x0, x1), (y0, y1), (canvas, map) =>
        {
            for (var i = 0; i < series.Count; i++)
            {
                using var paint = new SKPaint { Color = Palette[i % Palette.Length], StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
                using var path = new SKPath();
                var first = true;
                foreach (var (x, y) in series[i].Points.Where(p => double.IsFinite(p.Y) && (!logY || p.Y > 0)))
                {
                    var p = map(x, fy(y));
                    if (first) path.MoveTo(p); else path.LineTo(p);
                    first = false;
                }
                canvas.DrawPath(path, paint);
                Legend(canvas, i, series[i].Name);
            }
        });
    }

    /// <param name="intervals">Optional whiskers per bar (NaN bounds: none for that bar).</param>
    public static byte[] Bars(string title, string yLabel, IReadOnlyList<(string Label, double Value)> bars, IReadOnlyList<(double Lo, double Hi)>? intervals = null)
    {
        if (bars.Count == 0) throw new ArgumentException($"chart '{title}' has no bars");
        if (intervals is not null && intervals.Count != bars.Count)
            throw new ArgumentException($"chart '{title}' has {bars.Count} bars but {intervals.Count} intervals");
        var max = Math.Max(bars.Max(b => b.Value), intervals?.Where(i => double.IsFinite(i.Hi)).Select(i => i.Hi).DefaultIfEmpty(0).Max() ?? 0);
        var yMax = max > 0 ? max * 1.1 : 1;
        return Draw(title, "", yLabel, (0, bars.Count), (0, yMax), (canvas, map) =>
        {
            for (var i = 0; i < bars.Count; i++)
            {
                using var paint = new SKPaint { Color = Palette[i % Palette.Length], IsAntialias = true };
                var a = map(i + 0.15, Math.Max(bars[i].Value, 0));
                var b = map(i + 0.85, 0);
                canvas.DrawRect(SKRect.Create(a.X, a.Y, b.X - a.X, b.Y - a.Y), paint);
                Text(canvas, Format(bars[i].Value), (a.X + b.X) / 2, a.Y - 4, 12, SKTextAlign.Center);
                Legend(canvas, i, bars[i].Label);
                if (intervals?[i] is var (lo, hi) && double.IsFinite(lo) && double.IsFinite(hi))
                {
                    using var whisker = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
                    var (top, bottom) = (map(i + 0.5, hi), map(i + 0.5, Math.Max(lo, 0)));
                    canvas.DrawLine(top.X, top.Y, bottom.X, bottom.Y, whisker);
                    canvas.DrawLine(top.X - 8, top.Y, top.X + 8, top.Y, whisker);
                    canvas.DrawLine(bottom.X - 8, bottom.Y, bottom.X + 8, bottom.Y, whisker);
                }
            }
        }, xTicks: false);
    }

    private static byte[] Draw(string title, string xLabel, string yLabel, (double Lo, double Hi) xr, (double Lo, double Hi) yr,
        Action<SKCanvas, Func<double, double, SKPoint>> body, bool xTicks = true)
    {
        using var surface = SKSurface.Create(new SKImageInfo(W, H));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        float plotW = W - Left - Right, plotH = H - Top - Bottom;
        SKPoint Map(double x, double y) => new(
            Left + (float)((x - xr.Lo) / (xr.Hi - xr.Lo) * plotW),
            Top + plotH - (float)((y - yr.Lo) / (yr.Hi - yr.Lo) * plotH));
        using (var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke })
        using (var grid = new SKPaint { Color = new SKColor(0xe0, 0xe0, 0xe0), StrokeWidth = 1, Style = SKPaintStyle.Stroke })
        {
            for (var k = 0; k <= 4; k++)
            {
                var y = yr.Lo + (yr.Hi - yr.Lo) * k / 4;
                var p = Map(xr.Lo, y);
                canvas.DrawLine(Left, p.Y, Left + plotW, p.Y, grid);
                Text(canvas, Format(y), Left - 6, p.Y + 4, 11, SKTextAlign.Right);
                if (xTicks)
                {
                    var x = xr.Lo + (xr.Hi - xr.Lo) * k / 4;
                    Text(canvas, Format(x), Map(x, yr.Lo).X, Top + plotH + 16, 11, SKTextAlign.Center);
                }
            }
            canvas.DrawRect(Left, Top, plotW, plotH, axis);
        }
        body(canvas, Map);
        Text(canvas, title, W / 2f, 24, 15, SKTextAlign.Center);
        Text(canvas, xLabel, Left + plotW / 2, H - 18, 12, SKTextAlign.Center);
        canvas.Save();
        canvas.RotateDegrees(-90, 16, Top + plotH / 2);
        Text(canvas, yLabel, 16, Top + plotH / 2 + 4, 12, SKTextAlign.Center);
        canvas.Restore();
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static void Legend(SKCanvas canvas, int i, string name)
    {
        using var paint = new SKPaint { Color = Palette[i % Palette.Length] };
        var y = Top + 10 + i * 20;
        canvas.DrawRect(W - Right + 12, y - 9, 14, 10, paint);
        Text(canvas, name, W - Right + 32, y, 12, SKTextAlign.Left);
    }

    internal static void Text(SKCanvas canvas, string text, float x, float y, float size, SKTextAlign align)
    {
        using var paint = new SKPaint { Color = SKColors.Black, TextSize = size, IsAntialias = true, TextAlign = align, Typeface = Fonts.Sans };
        canvas.DrawText(text, x, y, paint);
    }

    private static (double, double) Range(IEnumerable<double> values)
    {
        var list = values.ToList();
        double lo = list.Min(), hi = list.Max();
        if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
        var pad = (hi - lo) * 0.05;
        return (lo - pad, hi + pad);
    }

    internal static string Format(double v) =>
        v == 0 ? "0" : Math.Abs(v) >= 1000 ? v.ToString("0.#e0") : Math.Abs(v) >= 10 ? v.ToString("0.#") : Math.Abs(v) >= 0.01 ? v.ToString("0.###") : v.ToString("0.#e0");
}

/// <summary>Typeface for chart text: DejaVu Sans where installed (Debian's fonts-dejavu-core), else Skia's default.</summary>
internal static class Fonts
{
    public static readonly SKTypeface Sans = Load();

    private static SKTypeface Load()
    {
        foreach (var path in new[] { "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf" })
            if (File.Exists(path) && SKTypeface.FromFile(path) is { } tf) return tf;
        return SKTypeface.Default;
    }
}
