using Fusion.Datasets.Images.Jpeg;
using Fusion.Models.Clip;

namespace Fusion.Datasets.Images;

/// <summary>
/// Decodes a JPEG into the <see cref="PilImage"/> Pillow 9.4 opens it as, pixel for pixel what its libjpeg-turbo 2.1
/// produces: the mode follows the number of components (1 → "L", 3 → "RGB", 4 → "CMYK"), libjpeg-turbo converts
/// YCbCr to RGB and YCCK to CMYK, and Pillow stores CMYK inverted ("CMYK;I", assuming Adobe's convention) whether or
/// not the file has an Adobe marker. No EXIF rotation, as <c>Image.open</c> does none. Unlike Pillow's libjpeg-turbo,
/// which decodes them, arithmetic-coded files (SOF9/SOF10) throw <see cref="NotSupportedException"/>: COCO has none.
/// </summary>
public static class PillowJpeg
{
    public static bool IsJpeg(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0xFF && data[1] == 0xD8;

    public static PilImage Decode(byte[] jpeg)
    {
        var frame = JpegDecoder.Decode(jpeg);
        var pixels = JpegColor.Interleave(frame);
        var mode = frame.Planes.Length switch { 1 => PilMode.L, 3 => PilMode.RGB, _ => PilMode.CMYK };
        if (mode == PilMode.CMYK)
            for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)~pixels[i];
        return new PilImage(mode, frame.Width, frame.Height, pixels);
    }
}
