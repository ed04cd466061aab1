using Fusion.Datasets.Images;
using Fusion.Models.Clip;

namespace Fusion.Datasets.Coco;

public sealed record SkippedImage(long ImageId, string Path, string Reason);

public sealed record PreprocessedImage(long ImageId, float[] Chw);

/// <summary>
/// U-ViT's COCO image path (datasets.py <c>MSCOCODatabase</c> with <c>center_crop</c>), pixel for pixel as Pillow 9.4
/// computes it: <c>Image.open(path).convert("RGB")</c> (JPEG decoded as its libjpeg-turbo does, <see cref="PillowJpeg"/>;
/// grey and CMYK become RGB; no EXIF rotation), a square centre crop of side c = min(H, W) at rows
/// [(H − c)//2, (H + c)//2) and columns likewise (odd slack dropped at the end), one
/// <c>resize((size, size), LANCZOS)</c> in Pillow's 8-bit fixed point, then x/127.5 − 1 as float32 CHW.
/// </summary>
public static class CocoImagePreprocessing
{
    public const int Resolution = 256;

    /// <summary><c>Image.open(...).convert("RGB")</c> of a JPEG or PNG file's bytes (Pillow picks the format by content).</summary>
    public static PilImage OpenRgb(byte[] file)
    {
        var image = PillowJpeg.IsJpeg(file) ? PillowJpeg.Decode(file)
            : PillowPng.IsPng(file) ? PillowPng.Decode(file)
            : throw new NotSupportedException("neither a JPEG nor a PNG file");
        return PilImage.Rgb(image.Width, image.Height, image.ToRgb());
    }

    /// <summary><c>center_crop(size, size, img)</c> on an RGB image: the middle square, then Pillow's LANCZOS resize.</summary>
    public static PilImage CenterCropResize(PilImage rgb, int size = Resolution)
    {
        var crop = Math.Min(rgb.Width, rgb.Height);
        return rgb.Crop((rgb.Width - crop) / 2, (rgb.Height - crop) / 2, crop, crop).Resize(size, size, PillowFilter.Lanczos);
    }

    /// <summary>RGB bytes → float32 CHW: x/127.5 − 1 computed in float32, as numpy does on the float32 crop.</summary>
    public static float[] ToChw(PilImage rgb)
    {
        int plane = rgb.Width * rgb.Height;
        var chw = new float[3 * plane];
        for (var i = 0; i < plane; i++)
            for (var c = 0; c < 3; c++) chw[c * plane + i] = rgb.Pixels[3 * i + c] / 127.5f - 1f;
        return chw;
    }

    public static float[] LoadChw(string path, int size = Resolution) => ToChw(LoadImage(path, size));

    /// <summary>The cropped, resized image as RGB bytes, HWC (for PNG export and FID reference images).</summary>
    public static byte[] LoadRgb(string path, int size = Resolution) => LoadImage(path, size).Pixels;

    private static PilImage LoadImage(string path, int size) => CenterCropResize(OpenRgb(File.ReadAllBytes(path)), size);

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
                catch (Exception e) when (IsUndecodable(e))
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

    /// <summary>The failures that mean "this file is not an image we can read" (the image is skipped, not the run).</summary>
    public static bool IsUndecodable(Exception e) =>
        e is NotSupportedException or IOException or InvalidDataException or ArgumentException or SixLabors.ImageSharp.ImageFormatException;
}
