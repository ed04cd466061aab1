using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Fusion.Datasets.Coco;

public sealed record SkippedImage(long ImageId, string Path, string Reason);

public sealed record PreprocessedImage(long ImageId, float[] Chw);

/// <summary>
/// U-ViT's COCO image path: decode to RGB (grayscale and CMYK become RGB; no EXIF rotation, like PIL's open), square
/// centre crop of side c = min(H, W) at offsets ((H−c)/2, (W−c)/2) (odd slack dropped at the end), one Lanczos3 resize
/// to size² (PIL LANCZOS is a = 3), then x/127.5 − 1 as float32 CHW.
/// </summary>
public static class CocoImagePreprocessing
{
    public const int Resolution = 256;

    /// <summary>Crops and resizes in place.</summary>
    public static void CropResize(Image<Rgb24> image, int size = Resolution)
    {
        var c = Math.Min(image.Width, image.Height);
        var rect = new Rectangle((image.Width - c) / 2, (image.Height - c) / 2, c, c);
        image.Mutate(x =>
        {
            if (image.Width != c || image.Height != c) x.Crop(rect);
            if (c != size)
                x.Resize(new ResizeOptions { Size = new SixLabors.ImageSharp.Size(size, size), Sampler = KnownResamplers.Lanczos3, Mode = ResizeMode.Stretch });
        });
    }

    /// <summary>RGB24 pixels → float32 CHW in [−1, 1].</summary>
    public static float[] ToChw(Image<Rgb24> image)
    {
        int w = image.Width, h = image.Height, plane = w * h;
        var chw = new float[3 * plane];
        image.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < h; y++)
            {
                var row = rows.GetRowSpan(y);
                for (var x = 0; x < w; x++)
                {
                    var p = row[x];
                    var o = y * w + x;
                    chw[o] = p.R / 127.5f - 1f;
                    chw[plane + o] = p.G / 127.5f - 1f;
                    chw[2 * plane + o] = p.B / 127.5f - 1f;
                }
            }
        });
        return chw;
    }

    public static float[] LoadChw(string path, int size = Resolution)
    {
        using var image = Image.Load<Rgb24>(path);
        CropResize(image, size);
        return ToChw(image);
    }

    /// <summary>The cropped, resized image as RGB24 bytes, HWC (for PNG export and FID reference images).</summary>
    public static byte[] LoadRgb(string path, int size = Resolution)
    {
        using var image = Image.Load<Rgb24>(path);
        CropResize(image, size);
        var bytes = new byte[size * size * 3];
        image.CopyPixelDataTo(bytes);
        return bytes;
    }

    /// <summary>
    /// Preprocesses images in the given order (callers pass ascending ids) on <paramref name="parallelism"/> threads,
    /// a bounded chunk at a time. An image that cannot be decoded is added to <paramref name="skipped"/> and left out;
    /// the rest keep their order.
    /// </summary>
    public static IEnumerable<PreprocessedImage> PreprocessInOrder(IEnumerable<(long Id, string Path)> images, ICollection<SkippedImage> skipped,
        int size = Resolution, int parallelism = 0, CancellationToken ct = default)
    {
        parallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount;
        foreach (var chunk in images.Chunk(parallelism * 8))
        {
            var results = new PreprocessedImage?[chunk.Length];
            var reasons = new string?[chunk.Length];
            Parallel.For(0, chunk.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, k =>
            {
                try { results[k] = new PreprocessedImage(chunk[k].Id, LoadChw(chunk[k].Path, size)); }
                catch (Exception e) when (e is ImageFormatException or UnknownImageFormatException or InvalidImageContentException
                                               or NotSupportedException or IOException or InvalidDataException or ArgumentException)
                {
                    reasons[k] = $"{e.GetType().Name}: {e.Message}";
                }
            });
            for (var k = 0; k < chunk.Length; k++)
            {
                if (results[k] is { } r) yield return r;
                else skipped.Add(new SkippedImage(chunk[k].Id, chunk[k].Path, reasons[k]!));
            }
        }
    }
}
