using SkiaSharp;

namespace Fusion.Reproduction.Report;

/// <summary>A PNG grid of generated images, one row per prompt, with the prompt written above each row.</summary>
public static class SampleGrid
{
    /// <param name="images">RGB images in [0,1], layout [N,3,H,W] flattened; N = rows × columns, row-major.</param>
    /// <param name="rowLabels">One caption per row.</param>
    /// <param name="scale">Integer upscaling (nearest) so tiny images stay visible.</param>
    public static byte[] Png(ReadOnlySpan<float> images, int height, int width, IReadOnlyList<string> rowLabels, int columns, int scale = 1)
    {
        var rows = rowLabels.Count;
        var per = 3 * height * width;
        if (images.Length != rows * columns * per)
            throw new ArgumentException($"sample grid: {images.Length} values for {rows}×{columns} images of 3×{height}×{width}");
        const int gap = 4, label = 18;
        int cw = width * scale, ch = height * scale;
        var info = new SKImageInfo(columns * (cw + gap) + gap, rows * (ch + gap + label) + gap);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap)) canvas.Clear(SKColors.White);
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < columns; c++)
        {
            var img = images.Slice((r * columns + c) * per, per);
            int ox = gap + c * (cw + gap), oy = gap + r * (ch + gap + label) + label;
            for (var y = 0; y < ch; y++)
            for (var x = 0; x < cw; x++)
            {
                var i = (y / scale) * width + x / scale;
                bitmap.SetPixel(ox + x, oy + y, new SKColor(Byte(img[i]), Byte(img[height * width + i]), Byte(img[2 * height * width + i])));
            }
        }
        using (var canvas = new SKCanvas(bitmap))
            for (var r = 0; r < rows; r++)
                Chart.Text(canvas, rowLabels[r], gap, gap + r * (ch + gap + label) + label - 5, 12, SKTextAlign.Left);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>[0,1] → 0..255 exactly as torchvision's save_image (the FID path): floor(x·255 + 0.5), clamped.</summary>
    public static byte Byte(float v) => (byte)Math.Clamp(MathF.Floor(v * 255f + 0.5f), 0f, 255f);
}
