namespace Fusion.Models.Clip;

/// <summary>A Pillow convolution filter (Resample.c): its kernel and support radius before widening.</summary>
public sealed record PillowFilter(string Name, double Support, Func<double, double> Kernel)
{
    /// <summary>BICUBIC: the cubic convolution kernel with a = −0.5, support 2, written as in Resample.c.</summary>
    public static readonly PillowFilter Bicubic = new("BICUBIC", 2.0, x =>
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    });

    /// <summary>LANCZOS: sinc(x)·sinc(x/3) on −3 ≤ x &lt; 3 (a = 3), support 3.</summary>
    public static readonly PillowFilter Lanczos = new("LANCZOS", 3.0, x => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0);

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }
}

/// <summary>
/// Pillow 9.4's 8-bit resampling (<c>libImaging/Resample.c</c>, and <c>Geometry.c</c> for NEAREST), bit for bit, on
/// band-interleaved bytes. Bands are resampled independently with the same coefficients, as Pillow does.
/// </summary>
public static class PillowResample
{
    // 8 bits of result, 2 bits of headroom for the negative lobes and sums above 1 (Pillow's PRECISION_BITS).
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary><c>Image.resize((outWidth, outHeight), BICUBIC)</c> without a box (see <see cref="Resample"/>).</summary>
    public static byte[] Bicubic(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight) =>
        Resample(pixels, width, height, bands, outWidth, outHeight, PillowFilter.Bicubic);

    /// <summary>
    /// <c>ImagingResample</c> with a convolution filter and no box: horizontal pass first (only over the rows the
    /// vertical pass reads), rounded and clipped to uint8, then the vertical pass; a pass whose size is unchanged is
    /// skipped, and an unchanged size is a copy.
    /// </summary>
    public static byte[] Resample(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight, PillowFilter filter)
    {
        Check(pixels, width, height, bands, outWidth, outHeight);
        var (xBounds, xCoeffs, xK) = Coefficients(width, outWidth, filter);
        var (yBounds, yCoeffs, yK) = Coefficients(height, outHeight, filter);
        var src = pixels;
        if (outWidth != width)
        {
            // Pillow resamples horizontally only rows ybox_first ≤ y < ybox_last, then shifts the vertical bounds.
            var first = yBounds[0];
            var last = yBounds[2 * outHeight - 2] + yBounds[2 * outHeight - 1];
            for (var i = 0; i < outHeight; i++) yBounds[2 * i] -= first;
            src = Pass(src, width, bands, outWidth, last - first, first, xBounds, xCoeffs, xK, horizontal: true);
        }
        if (outHeight != height) src = Pass(src, outWidth, bands, outWidth, outHeight, 0, yBounds, yCoeffs, yK, horizontal: false);
        return ReferenceEquals(src, pixels) ? (byte[])pixels.Clone() : src;
    }

    /// <summary>
    /// <c>Image.resize(size, NEAREST)</c> (what Pillow uses for "1" and "P" images whatever filter is asked):
    /// <c>ImagingScaleAffine</c>, source coordinate <c>(int)</c> of a running sum <c>scale/2 + i·scale</c>, accumulated
    /// in double as Pillow does rather than computed per pixel.
    /// </summary>
    public static byte[] Nearest(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight)
    {
        Check(pixels, width, height, bands, outWidth, outHeight);
        if (outWidth == width && outHeight == height) return (byte[])pixels.Clone();
        double ax = (double)width / outWidth, ay = (double)height / outHeight;
        var xin = new int[outWidth];
        var xo = ax * 0.5;
        for (var x = 0; x < outWidth; x++, xo += ax) xin[x] = (int)xo;
        var output = new byte[outWidth * outHeight * bands];
        var yo = ay * 0.5;
        for (var y = 0; y < outHeight; y++, yo += ay)
        {
            var row = (int)yo * width;
            for (var x = 0; x < outWidth; x++)
                Array.Copy(pixels, (row + xin[x]) * bands, output, (y * outWidth + x) * bands, bands);
        }
        return output;
    }

    /// <summary>
    /// <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for the box (0, inSize): per output pixel the first input
    /// index and count of the kernel's support (the filter's, widened by the downscale factor), weights normalised to
    /// sum 1 in double, then rounded half away from zero to 22-bit fixed point.
    /// </summary>
    private static (int[] Bounds, int[] Coeffs, int KSize) Coefficients(int inSize, int outSize, PillowFilter filter)
    {
        var scale = (double)inSize / outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = filter.Support * filterScale;
        var kSize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[2 * outSize];
        var coeffs = new int[outSize * kSize];
        var k = new double[kSize];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = (xx + 0.5) * scale;
            var ss = 1.0 / filterScale; // Pillow multiplies by the reciprocal; dividing differs in the last bit
            var xmin = Math.Max((int)(center - support + 0.5), 0);
            var xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            var ww = 0.0;
            for (var x = 0; x < xmax; x++) ww += k[x] = filter.Kernel((x + xmin - center + 0.5) * ss);
            for (var x = 0; x < xmax; x++)
            {
                var w = ww != 0.0 ? k[x] / ww : k[x];
                coeffs[xx * kSize + x] = w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return (bounds, coeffs, kSize);
    }

    /// <summary>
    /// One pass of <c>ImagingResample{Horizontal,Vertical}_8bpc</c>: fixed-point sums started at ½ (rounding), shifted
    /// back and clipped to 0..255. The horizontal pass reads input row <c>y + rowOffset</c>; the vertical pass reads
    /// the full-width rows the vertical bounds name (its input is <paramref name="outWidth"/> wide).
    /// </summary>
    private static byte[] Pass(byte[] src, int srcWidth, int bands, int outWidth, int outHeight, int rowOffset,
        int[] bounds, int[] coeffs, int kSize, bool horizontal)
    {
        var output = new byte[outWidth * outHeight * bands];
        var sums = new int[outWidth * bands];
        for (var y = 0; y < outHeight; y++)
        {
            Array.Fill(sums, 1 << (PrecisionBits - 1));
            if (horizontal)
            {
                var row = (y + rowOffset) * srcWidth * bands;
                for (var x = 0; x < outWidth; x++)
                {
                    int min = bounds[2 * x], n = bounds[2 * x + 1];
                    var weights = coeffs.AsSpan(x * kSize, n);
                    var pixels = src.AsSpan(row + min * bands, n * bands);
                    for (var b = 0; b < bands; b++)
                    {
                        var sum = sums[x * bands + b];
                        for (var i = 0; i < n; i++) sum += pixels[i * bands + b] * weights[i];
                        sums[x * bands + b] = sum;
                    }
                }
            }
            else
            {
                // One weight per source row, applied across the whole output row (integer sums: the order is immaterial).
                int min = bounds[2 * y], n = bounds[2 * y + 1];
                for (var i = 0; i < n; i++)
                {
                    var weight = coeffs[y * kSize + i];
                    var line = src.AsSpan((min + i) * srcWidth * bands, sums.Length);
                    for (var j = 0; j < sums.Length; j++) sums[j] += line[j] * weight;
                }
            }
            var target = output.AsSpan(y * outWidth * bands, sums.Length);
            for (var j = 0; j < sums.Length; j++) target[j] = (byte)Math.Clamp(sums[j] >> PrecisionBits, 0, 255);
        }
        return output;
    }

    private static void Check(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight)
    {
        if (width < 1 || height < 1 || outWidth < 1 || outHeight < 1 || bands < 1)
            throw new ArgumentException($"cannot resize {width}×{height}×{bands} to {outWidth}×{outHeight}");
        if (pixels.Length != width * height * bands)
            throw new ArgumentException($"{pixels.Length} bytes are not a {width}×{height} image of {bands} bands");
    }
}
