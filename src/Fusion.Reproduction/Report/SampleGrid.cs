using Fusion.Workflow.Pipelines;
using SkiaSharp;

namespace Fusion.Reproduction.Report;

/// <summary>
/// A PNG grid of generated images: a heading (the variant, and its seed where the node has one), then one row per
/// prompt with the full prompt, word-wrapped, above the row's images (one column per noise draw).
/// </summary>
public static class SampleGrid
{
    private const int Pad = 8, Gap = 4, MinWidth = 360, RowGap = 10;
    private const float TitleSize = 15, NoteSize = 12, PromptSize = 13;

    /// <param name="images">RGB images in [0,1], layout [N,3,H,W] flattened; N = rows × columns, row-major.</param>
    /// <param name="prompts">One prompt per row.</param>
    /// <param name="scale">Integer upscaling (nearest) so tiny images stay visible.</param>
    /// <param name="title">The heading, e.g. <see cref="Title"/> of the sample node.</param>
    /// <param name="note">A smaller line under the heading (how the columns were drawn).</param>
    public static byte[] Png(ReadOnlySpan<float> images, int height, int width, IReadOnlyList<string> prompts, int columns, int scale = 1,
        string? title = null, string? note = null)
    {
        var rows = prompts.Count;
        var per = 3 * height * width;
        if (images.Length != rows * columns * per)
            throw new ArgumentException($"sample grid: {images.Length} values for {rows}×{columns} images of 3×{height}×{width}");
        int cw = width * scale, ch = height * scale;
        var canvasWidth = Math.Max(MinWidth, 2 * Pad + columns * cw + (columns - 1) * Gap);
        float textWidth = canvasWidth - 2 * Pad;
        using var titleFont = new SKFont(ReportFonts.Bold, TitleSize);
        using var noteFont = new SKFont(ReportFonts.Sans, NoteSize);
        using var promptFont = new SKFont(ReportFonts.Sans, PromptSize);

        // Lay out every line first: the canvas height depends on how the prompts wrap.
        var lines = new List<(string Text, SKFont Font, float Baseline, SKColor Color)>();
        float y = Pad;
        void Block(string? text, SKFont font, SKColor color)
        {
            if (string.IsNullOrEmpty(text)) return;
            foreach (var line in Wrap(text, font, textWidth))
            {
                y += font.Spacing;
                lines.Add((line, font, y - font.Metrics.Descent, color));
            }
        }
        Block(title, titleFont, SKColors.Black);
        Block(note, noteFont, new SKColor(0x55, 0x55, 0x55));
        if (lines.Count > 0) y += RowGap;
        var rowTops = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            Block(prompts[r], promptFont, SKColors.Black);
            y += 3;
            rowTops[r] = (int)Math.Ceiling(y);
            y = rowTops[r] + ch + RowGap;
        }
        var canvasHeight = (int)Math.Ceiling(y) - RowGap + Pad;

        using var bitmap = new SKBitmap(new SKImageInfo(canvasWidth, canvasHeight, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = bitmap.GetPixelSpan();
        pixels.Fill(255);
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < columns; c++)
        {
            var img = images.Slice((r * columns + c) * per, per);
            int ox = Pad + c * (cw + Gap), oy = rowTops[r];
            for (var py = 0; py < ch; py++)
            for (var px = 0; px < cw; px++)
            {
                var i = py / scale * width + px / scale;
                var o = ((oy + py) * canvasWidth + ox + px) * 4;
                pixels[o] = Byte(img[i]);
                pixels[o + 1] = Byte(img[height * width + i]);
                pixels[o + 2] = Byte(img[2 * height * width + i]);
            }
        }
        using (var canvas = new SKCanvas(bitmap))
            foreach (var (text, font, baseline, color) in lines)
            {
                using var paint = new SKPaint { Color = color, IsAntialias = true };
                canvas.DrawText(text, Pad, baseline, SKTextAlign.Left, font, paint);
            }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// The heading for a sample node's grid, from its id: "sample[intermediate-cross]" → "intermediate-cross",
    /// "sample[intermediate-cross/seed=2]" → "intermediate-cross · seed=2" (the parts of a variant with several axes).
    /// </summary>
    public static string Title(string nodeId) => string.Join(" · ", NodeDefinition.VariantOf(nodeId).Split('/'));

    /// <summary>Greedy word wrap to <paramref name="maxWidth"/> pixels; a word wider than a line is broken between characters.</summary>
    internal static List<string> Wrap(string text, SKFont font, float maxWidth)
    {
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = line.Length == 0 ? word : line + " " + word;
            if (font.MeasureText(candidate) <= maxWidth) { line = candidate; continue; }
            if (line.Length > 0) lines.Add(line);
            line = word;
            while (font.MeasureText(line) > maxWidth && line.Length > 1)
            {
                var fit = 1;
                while (fit < line.Length && font.MeasureText(line[..(fit + 1)]) <= maxWidth) fit++;
                lines.Add(line[..fit]);
                line = line[fit..];
            }
        }
        if (line.Length > 0) lines.Add(line);
        return lines;
    }

    /// <summary>[0,1] → 0..255 exactly as torchvision's save_image (the FID path): floor(x·255 + 0.5), clamped.</summary>
    public static byte Byte(float v) => (byte)Math.Clamp(MathF.Floor(v * 255f + 0.5f), 0f, 255f);
}
