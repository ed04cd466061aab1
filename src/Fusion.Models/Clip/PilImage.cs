namespace Fusion.Models.Clip;

/// <summary>The Pillow modes an 8-bit PNG opens as; they decide how Pillow resizes and converts to RGB.</summary>
public enum PilMode
{
    /// <summary>"1": bilevel, held as 0 / 255; resized NEAREST.</summary>
    Bilevel,
    L,
    /// <summary>Grey with alpha; resized premultiplied (LA → La → resize → LA).</summary>
    LA,
    /// <summary>"P": palette; held already resolved to RGB (NEAREST resizing and convert("RGB") commute with the lookup).</summary>
    P,
    RGB,
    /// <summary>Resized premultiplied (RGBA → RGBa → resize → RGBA).</summary>
    RGBA,
    /// <summary>Four ink bands as Pillow holds a CMYK JPEG (libjpeg's samples inverted, Adobe's convention).</summary>
    CMYK,
}

/// <summary>
/// An 8-bit image as Pillow 9.4 holds it (bands interleaved, row-major), with the operations the CLIP and COCO
/// preprocessing apply: <c>resize</c>, <c>crop</c> and <c>convert("RGB")</c>, each exactly as Pillow computes it.
/// </summary>
public sealed record PilImage(PilMode Mode, int Width, int Height, byte[] Pixels)
{
    public int Bands => BandsOf(Mode);

    public static int BandsOf(PilMode mode) => mode switch { PilMode.Bilevel or PilMode.L => 1, PilMode.LA => 2, PilMode.RGBA or PilMode.CMYK => 4, _ => 3 };

    /// <summary>An RGB image from interleaved bytes [H, W, 3].</summary>
    public static PilImage Rgb(int width, int height, byte[] hwc) => new(PilMode.RGB, width, height, hwc);

    /// <summary><c>Image.resize(size, BICUBIC)</c> (see <see cref="Resize"/>).</summary>
    public PilImage ResizeBicubic(int width, int height) => Resize(width, height, PillowFilter.Bicubic);

    /// <summary>
    /// <c>Image.resize(size, filter)</c> (Pillow 9.4 <c>Image.resize</c>): the same size is a copy; "1" and "P" fall back
    /// to NEAREST; LA and RGBA are premultiplied around the resize.
    /// </summary>
    public PilImage Resize(int width, int height, PillowFilter filter)
    {
        if (Mode is PilMode.Bilevel or PilMode.P)
            return this with { Width = width, Height = height, Pixels = PillowResample.Nearest(Pixels, Width, Height, Bands, width, height) };
        if (width == Width && height == Height) return this with { Pixels = (byte[])Pixels.Clone() };
        var premultiplied = Mode is PilMode.LA or PilMode.RGBA;
        var src = premultiplied ? Premultiply(Pixels, Bands) : Pixels;
        var resized = PillowResample.Resample(src, Width, Height, Bands, width, height, filter);
        return this with { Width = width, Height = height, Pixels = premultiplied ? Unpremultiply(resized, Bands) : resized };
    }

    /// <summary><c>Image.crop((left, top, left + width, top + height))</c>, inside the image.</summary>
    public PilImage Crop(int left, int top, int width, int height)
    {
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > Width || top + height > Height)
            throw new ArgumentException($"crop {width}×{height} at ({left}, {top}) is outside the {Width}×{Height} image");
        var bands = Bands;
        var output = new byte[width * height * bands];
        for (var y = 0; y < height; y++)
            Array.Copy(Pixels, ((top + y) * Width + left) * bands, output, y * width * bands, width * bands);
        return this with { Width = width, Height = height, Pixels = output };
    }

    /// <summary>
    /// <c>convert("RGB")</c> as interleaved bytes [H, W, 3]: alpha dropped (not composited), grey replicated, CMYK as
    /// Convert.c <c>cmyk2rgb</c> computes it.
    /// </summary>
    public byte[] ToRgb()
    {
        if (Mode is PilMode.RGB or PilMode.P) return Pixels;
        if (Mode is PilMode.CMYK) return CmykToRgb(Pixels);
        var bands = Bands;
        var rgb = new byte[Width * Height * 3];
        for (var i = 0; i < Width * Height; i++)
        {
            var p = i * bands;
            var grey = bands <= 2;
            rgb[3 * i] = Pixels[p];
            rgb[3 * i + 1] = Pixels[grey ? p : p + 1];
            rgb[3 * i + 2] = Pixels[grey ? p : p + 2];
        }
        return rgb;
    }

    /// <summary>Convert.c <c>cmyk2rgb</c>: each colour band is (255 − K) − MULDIV255(ink, 255 − K).</summary>
    private static byte[] CmykToRgb(byte[] cmyk)
    {
        var rgb = new byte[cmyk.Length / 4 * 3];
        for (int i = 0, o = 0; i < cmyk.Length; i += 4, o += 3)
        {
            var nk = 255 - cmyk[i + 3];
            for (var b = 0; b < 3; b++)
            {
                var t = cmyk[i + b] * nk + 128;
                rgb[o + b] = (byte)Math.Clamp(nk - (((t >> 8) + t) >> 8), 0, 255);
            }
        }
        return rgb;
    }

    /// <summary>
    /// Convert.c <c>rgbA2rgba</c> / <c>lA2la</c>: colour · alpha / 255 with Pillow's MULDIV255, t = c·a + 128,
    /// ((t >> 8) + t) >> 8 (the last band is alpha).
    /// </summary>
    public static byte[] Premultiply(byte[] pixels, int bands)
    {
        var output = (byte[])pixels.Clone();
        for (var p = 0; p < output.Length; p += bands)
        {
            var alpha = output[p + bands - 1];
            for (var b = 0; b < bands - 1; b++)
            {
                var t = output[p + b] * alpha + 128;
                output[p + b] = (byte)(((t >> 8) + t) >> 8);
            }
        }
        return output;
    }

    /// <summary>
    /// Convert.c <c>rgba2rgbA</c> / <c>la2lA</c>: colour unchanged where alpha is 0 or 255, else min(255, ⌊255·c / alpha⌋).
    /// </summary>
    public static byte[] Unpremultiply(byte[] pixels, int bands)
    {
        var output = (byte[])pixels.Clone();
        for (var p = 0; p < output.Length; p += bands)
        {
            var alpha = output[p + bands - 1];
            if (alpha is 0 or 255) continue;
            for (var b = 0; b < bands - 1; b++) output[p + b] = (byte)Math.Min(255 * output[p + b] / alpha, 255);
        }
        return output;
    }
}
