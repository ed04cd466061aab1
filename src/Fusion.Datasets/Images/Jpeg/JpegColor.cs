namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// libjpeg-turbo 2.1's colour conversion (jdcolor.c): YCbCr → RGB through its 16-bit fixed-point tables
/// (<c>build_ycc_rgb_table</c>, JFIF's 1.402 / 0.34414 / 0.71414 / 1.772), YCCK → CMYK the same way on inverted
/// samples with K passed through; grey, RGB and CMYK frames pass unchanged. The result is band-interleaved.
/// </summary>
internal static class JpegColor
{
    private const int ScaleBits = 16;
    private const long OneHalf = 1L << (ScaleBits - 1);
    private static readonly int[] CrR = new int[256], CbB = new int[256];
    private static readonly long[] CrG = new long[256], CbG = new long[256];

    static JpegColor()
    {
        static long Fix(double x) => (long)(x * (1L << ScaleBits) + 0.5);
        for (var i = 0; i < 256; i++)
        {
            long x = i - 128;
            CrR[i] = (int)((Fix(1.40200) * x + OneHalf) >> ScaleBits);
            CbB[i] = (int)((Fix(1.77200) * x + OneHalf) >> ScaleBits);
            CrG[i] = -Fix(0.71414) * x;
            CbG[i] = -Fix(0.34414) * x + OneHalf;
        }
    }

    public static byte[] Interleave(JpegPlanes frame)
    {
        var (planes, n) = (frame.Planes, frame.Width * frame.Height);
        var bands = planes.Length;
        var output = new byte[n * bands];
        for (var b = 0; b < bands; b++)
        {
            var plane = planes[b];
            for (int i = 0, o = b; i < n; i++, o += bands) output[o] = plane[i];
        }
        if (frame.ColorSpace is not (JpegColorSpace.YCbCr or JpegColorSpace.Ycck)) return output;
        var inverted = frame.ColorSpace == JpegColorSpace.Ycck;
        byte[] y = planes[0], cb = planes[1], cr = planes[2];
        for (int i = 0, o = 0; i < n; i++, o += bands)
        {
            int r = y[i] + CrR[cr[i]], g = y[i] + (int)((CbG[cb[i]] + CrG[cr[i]]) >> ScaleBits), bl = y[i] + CbB[cb[i]];
            output[o] = Limit(inverted ? 255 - r : r);
            output[o + 1] = Limit(inverted ? 255 - g : g);
            output[o + 2] = Limit(inverted ? 255 - bl : bl);
        }
        return output;
    }

    private static byte Limit(int v) => (byte)Math.Clamp(v, 0, 255);
}
