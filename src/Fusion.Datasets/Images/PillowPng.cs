using Fusion.Models.Clip;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Fusion.Datasets.Images;

/// <summary>
/// Decodes a PNG into the <see cref="PilImage"/> Pillow 9.4 opens it as: the mode follows the IHDR colour type and bit
/// depth as in PngImagePlugin (grey → "L" or "1", grey+alpha → "LA", truecolour → "RGB", +alpha → "RGBA", indexed → "P"),
/// because the mode decides how Pillow resizes. tRNS only matters to "P"/"L"/"RGB" images through <c>info</c>, which
/// resizing and <c>convert("RGB")</c> ignore, so it is dropped. 16-bit samples keep their high byte (Pillow's ";16B"
/// unpackers); 16-bit grey opens as "I" in Pillow, a 32-bit mode this port does not cover.
/// </summary>
public static class PillowPng
{
    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    public static bool IsPng(ReadOnlySpan<byte> data) => data.StartsWith(Signature);

    public static PilImage Decode(byte[] png)
    {
        if (png.Length < 33 || !png.AsSpan(0, 8).SequenceEqual(Signature) || !png.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new InvalidDataException("not a PNG file (no signature and IHDR chunk)");
        var (bitDepth, colourType) = (png[24], png[25]);
        var mode = (colourType, bitDepth) switch
        {
            (0, 1) => PilMode.Bilevel,
            (0, 2 or 4 or 8) => PilMode.L,
            (0, 16) => throw new NotSupportedException("16-bit grey PNGs open as Pillow mode \"I\" (32-bit), which this port does not cover"),
            (2, 8 or 16) => PilMode.RGB,
            (3, 1 or 2 or 4 or 8) => PilMode.P,
            (4, 8 or 16) => PilMode.LA,
            (6, 8 or 16) => PilMode.RGBA,
            _ => throw new InvalidDataException($"PNG colour type {colourType} with bit depth {bitDepth} is not valid"),
        };
        // Rgba64 holds every PNG sample exactly (8-bit v as v·257, sub-byte grey scaled to 8 bits first as Pillow's
        // L;2 / L;4 unpackers do), so the high byte is Pillow's 8-bit value in every case.
        using var image = Image.Load<Rgba64>(png);
        var (w, h) = (image.Width, image.Height);
        var decoded = new Rgba64[w * h];
        image.CopyPixelDataTo(decoded);
        var bands = PilImage.BandsOf(mode);
        var pixels = new byte[w * h * bands];
        for (var i = 0; i < decoded.Length; i++)
        {
            var p = decoded[i];
            pixels[i * bands] = (byte)(p.R >> 8);
            if (bands == 2) pixels[i * 2 + 1] = (byte)(p.A >> 8);
            if (bands < 3) continue;
            pixels[i * bands + 1] = (byte)(p.G >> 8);
            pixels[i * bands + 2] = (byte)(p.B >> 8);
            if (bands == 4) pixels[i * 4 + 3] = (byte)(p.A >> 8);
        }
        return new PilImage(mode, w, h, pixels);
    }
}
