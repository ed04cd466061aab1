namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// libjpeg-turbo 2.1's upsampling (jdsample.c) of a component plane to the full image size, with Pillow's defaults
/// (fancy upsampling on): h2v1 and h2v2 use the triangle filter when the component is wider than 2 samples, h1v2 always
/// does (libjpeg-turbo's own addition, where libjpeg 6b replicates), any other integral ratio replicates samples, and a
/// fractional one is not supported. The rows above the first and below the last are copies of them (jdmainct.c context).
/// </summary>
internal static class JpegUpsampler
{
    public static byte[] Upsample(JpegComponent c, byte[] plane, int maxH, int maxV, int width, int height)
    {
        int stride = c.WidthInBlocks * 8, dw = c.DownsampledWidth, dh = c.DownsampledHeight;
        var output = new byte[width * height];
        if (maxH % c.H != 0 || maxV % c.V != 0)
            throw new NotSupportedException($"JPEG sampling factors {c.H}×{c.V} of {maxH}×{maxV} (fractional; libjpeg rejects them)");
        int hx = maxH / c.H, vx = maxV / c.V;
        int Row(int r) => Math.Clamp(r, 0, dh - 1) * stride;
        var row = new byte[2 * dw];
        for (var y = 0; y < height; y++)
        {
            var target = output.AsSpan(y * width, width);
            switch (hx, vx)
            {
                case (1, 1): plane.AsSpan(y * stride, width).CopyTo(target); break;
                case (2, 1) when dw > 2: H2V1(plane.AsSpan(Row(y), dw), row); row.AsSpan(0, width).CopyTo(target); break;
                case (1, 2): H1V2(plane.AsSpan(Row(y / 2), dw), plane.AsSpan(Row(y % 2 == 0 ? y / 2 - 1 : y / 2 + 1), dw), y % 2 == 0 ? 1 : 2, target); break;
                case (2, 2) when dw > 2:
                    H2V2(plane.AsSpan(Row(y / 2), dw), plane.AsSpan(Row(y % 2 == 0 ? y / 2 - 1 : y / 2 + 1), dw), row);
                    row.AsSpan(0, width).CopyTo(target);
                    break;
                default:
                    var source = plane.AsSpan(y / vx * stride);
                    for (var x = 0; x < width; x++) target[x] = source[x / hx];
                    break;
            }
        }
        return output;
    }

    /// <summary><c>h2v1_fancy_upsample</c>: each output sample ¾ the nearer input sample + ¼ the further one.</summary>
    private static void H2V1(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int n = input.Length, v = input[0];
        output[0] = (byte)v;
        output[1] = (byte)((v * 3 + input[1] + 2) >> 2);
        for (var i = 1; i < n - 1; i++)
        {
            v = input[i] * 3;
            output[2 * i] = (byte)((v + input[i - 1] + 1) >> 2);
            output[2 * i + 1] = (byte)((v + input[i + 1] + 2) >> 2);
        }
        v = input[n - 1];
        output[2 * n - 2] = (byte)((v * 3 + input[n - 2] + 1) >> 2);
        output[2 * n - 1] = (byte)v;
    }

    /// <summary><c>h1v2_fancy_upsample</c>: ¾ the nearer row + ¼ the next nearer, biased 1 above and 2 below.</summary>
    private static void H1V2(ReadOnlySpan<byte> near, ReadOnlySpan<byte> far, int bias, Span<byte> output)
    {
        for (var x = 0; x < output.Length; x++) output[x] = (byte)((near[x] * 3 + far[x] + bias) >> 2);
    }

    /// <summary><c>h2v2_fancy_upsample</c>: the triangle filter in both directions (9/16, 3/16, 3/16, 1/16), biases 8 and 7.</summary>
    private static void H2V2(ReadOnlySpan<byte> near, ReadOnlySpan<byte> far, Span<byte> output)
    {
        var n = near.Length;
        int last, current = near[0] * 3 + far[0], next = near[1] * 3 + far[1];
        output[0] = (byte)((current * 4 + 8) >> 4);
        output[1] = (byte)((current * 3 + next + 7) >> 4);
        for (var i = 1; i < n - 1; i++)
        {
            (last, current, next) = (current, next, near[i + 1] * 3 + far[i + 1]);
            output[2 * i] = (byte)((current * 3 + last + 8) >> 4);
            output[2 * i + 1] = (byte)((current * 3 + next + 7) >> 4);
        }
        (last, current) = (current, next);
        output[2 * n - 2] = (byte)((current * 3 + last + 8) >> 4);
        output[2 * n - 1] = (byte)((current * 4 + 7) >> 4);
    }
}
