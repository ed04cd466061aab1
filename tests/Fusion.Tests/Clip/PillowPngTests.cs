using Fusion.Datasets.Images;
using Fusion.Models.Clip;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Fusion.Tests.Clip;

/// <summary>PNGs of each colour type open in the Pillow mode (and with the 8-bit values) that Pillow 9.4 gives them.</summary>
public class PillowPngTests
{
    private static byte[] Encode<TPixel>(Image<TPixel> image, PngColorType type, PngBitDepth depth) where TPixel : unmanaged, IPixel<TPixel>
    {
        using var ms = new MemoryStream();
        image.SaveAsPng(ms, new PngEncoder { ColorType = type, BitDepth = depth });
        return ms.ToArray();
    }

    [Fact]
    public void ModesAndSamplesFollowPngImagePlugin()
    {
        using var image = new Image<Rgba32>(2, 1);
        image[0, 0] = new Rgba32(200, 200, 200, 128);
        image[1, 0] = new Rgba32(10, 10, 10, 255);
        Assert.Equal(new byte[] { 200, 10 }, Decoded(PngColorType.Grayscale, PilMode.L));
        Assert.Equal(new byte[] { 200, 128, 10, 255 }, Decoded(PngColorType.GrayscaleWithAlpha, PilMode.LA));
        Assert.Equal(new byte[] { 200, 200, 200, 10, 10, 10 }, Decoded(PngColorType.Rgb, PilMode.RGB));
        Assert.Equal(new byte[] { 200, 200, 200, 128, 10, 10, 10, 255 }, Decoded(PngColorType.RgbWithAlpha, PilMode.RGBA));
        Assert.Equal(new byte[] { 200, 200, 200, 10, 10, 10 }, Decoded(PngColorType.Palette, PilMode.P));

        byte[] Decoded(PngColorType type, PilMode mode)
        {
            var decoded = PillowPng.Decode(Encode(image, type, PngBitDepth.Bit8));
            Assert.Equal((mode, 2, 1), (decoded.Mode, decoded.Width, decoded.Height));
            return decoded.Pixels;
        }
    }

    [Fact]
    public void SixteenBitSamplesKeepTheirHighByteAndOneBitGreyIsBilevel()
    {
        // Pillow's RGB;16B unpacker takes the high byte (0x12FF → 0x12); rescaling to 8 bits would give 0x13.
        using var deep = new Image<Rgba64>(1, 1);
        deep[0, 0] = new Rgba64(0x12FF, 0x8000, 0xFFFF, 0xFFFF);
        var rgb = PillowPng.Decode(Encode(deep, PngColorType.Rgb, PngBitDepth.Bit16));
        Assert.Equal(PilMode.RGB, rgb.Mode);
        Assert.Equal(new byte[] { 0x12, 0x80, 0xFF }, rgb.Pixels);

        using var bits = new Image<L8>(3, 1);
        bits[0, 0] = new L8(0);
        bits[1, 0] = new L8(255);
        bits[2, 0] = new L8(255);
        var bilevel = PillowPng.Decode(Encode(bits, PngColorType.Grayscale, PngBitDepth.Bit1));
        Assert.Equal(PilMode.Bilevel, bilevel.Mode);
        Assert.Equal(new byte[] { 0, 255, 255 }, bilevel.Pixels);
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255, 255, 255, 255 }, bilevel.ToRgb());

        Assert.Throws<NotSupportedException>(() => PillowPng.Decode(Encode(bits, PngColorType.Grayscale, PngBitDepth.Bit16)));
        Assert.Throws<InvalidDataException>(() => PillowPng.Decode([1, 2, 3]));
    }
}
