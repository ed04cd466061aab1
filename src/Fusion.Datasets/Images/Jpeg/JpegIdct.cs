namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// libjpeg-turbo 2.1's accurate integer inverse DCT ("ISLOW", the method Pillow uses) as its x86-64 AVX2 code
/// (simd/x86_64/jidctint-avx2.asm) computes it: dequantisation as a 16-bit multiply, the LL&amp;M butterflies with
/// 13-bit constants in 32-bit multiply-adds over 16-bit inputs, pass outputs saturated to 16 bits, and samples
/// saturated to −128..127 before the +128 level shift. For the coefficients of ordinary images this is exactly the C
/// code (jidctint.c); only wild, corrupt coefficients tell the two apart, and then Pillow gives the SIMD result.
/// </summary>
internal static class JpegIdct
{
    private const int ConstBits = 13;
    private const int Pass1Bits = 2;
    private const int F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633;
    private const int F1501 = 12299, F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995, F3072 = 25172;

    /// <summary>
    /// Every real block of the component to 8-bit samples, a plane of WidthInBlocks·8 × HeightInBlocks·8; with a
    /// smoother, each block row's coefficients are smoothed first.
    /// </summary>
    public static byte[] Plane(JpegComponent c, JpegBlockSmoother? smoother = null)
    {
        var quant = new short[64];
        for (var i = 0; i < 64; i++) quant[i] = c.Quant is { } q ? unchecked((short)q[i]) : (short)0;   // no scan: libjpeg's table stays zero
        int stride = c.WidthInBlocks * 8, rows = c.HeightInBlocks * 8;
        var plane = new byte[stride * rows];
        var workspace = new short[64];
        for (var by = 0; by < c.HeightInBlocks; by++)
        {
            var smoothed = smoother?.Row(by);
            for (var bx = 0; bx < c.WidthInBlocks; bx++)
            {
                var coefficients = smoothed is null ? c.Coefficients.AsSpan(c.BlockOffset(bx, by), 64) : smoothed[bx];
                Block(coefficients, quant, workspace, plane.AsSpan(by * 8 * stride + bx * 8), stride);
            }
        }
        return plane;
    }

    private static void Block(ReadOnlySpan<short> coef, short[] quant, short[] ws, Span<byte> output, int stride)
    {
        Span<short> line = stackalloc short[8];
        Span<short> result = stackalloc short[8];
        // Pass 1, columns. When rows 1..7 are all zero every column is its DC value shifted left (16-bit).
        if (!coef[8..].ContainsAnyExcept((short)0))
            for (var col = 0; col < 8; col++)
            {
                var dc = unchecked((short)(Dequantize(coef, quant, col) << Pass1Bits));
                for (var row = 0; row < 8; row++) ws[row * 8 + col] = dc;
            }
        else
            for (var col = 0; col < 8; col++)
            {
                for (var row = 0; row < 8; row++) line[row] = Dequantize(coef, quant, row * 8 + col);
                Pass(line, ConstBits - Pass1Bits, result);
                for (var row = 0; row < 8; row++) ws[row * 8 + col] = result[row];
            }
        // Pass 2, rows, then saturation to signed bytes and the level shift.
        for (var row = 0; row < 8; row++)
        {
            Pass(ws.AsSpan(row * 8, 8), ConstBits + Pass1Bits + 3, result);
            var target = output.Slice(row * stride, 8);
            for (var i = 0; i < 8; i++) target[i] = (byte)(Math.Clamp((int)result[i], -128, 127) + 128);
        }
    }

    private static short Dequantize(ReadOnlySpan<short> coef, short[] quant, int i) => unchecked((short)(coef[i] * quant[i]));

    /// <summary>One 8-point pass as the AVX2 <c>dodct</c> macro: 16-bit sums where it adds words, 32-bit elsewhere.</summary>
    private static void Pass(ReadOnlySpan<short> x, int shift, Span<short> output)
    {
        unchecked
        {
            int x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
            var tmp3 = x2 * (F0541 + F0765) + x6 * F0541;
            var tmp2 = x2 * F0541 + x6 * (F0541 - F1847);
            var tmp0 = (short)(x0 + x4) << ConstBits;
            var tmp1 = (short)(x0 - x4) << ConstBits;
            int tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            int z3 = (short)(x7 + x3), z4 = (short)(x5 + x1);
            var z3Odd = z3 * (F1175 - F1961) + z4 * F1175;
            var z4Odd = z3 * F1175 + z4 * (F1175 - F0390);
            var odd0 = x7 * (F0298 - F0899) + x1 * -F0899 + z3Odd;
            var odd1 = x5 * (F2053 - F2562) + x3 * -F2562 + z4Odd;
            var odd2 = x5 * -F2562 + x3 * (F3072 - F2562) + z3Odd;
            var odd3 = x7 * -F0899 + x1 * (F1501 - F0899) + z4Odd;

            output[0] = Descale(tmp10 + odd3, shift);
            output[7] = Descale(tmp10 - odd3, shift);
            output[1] = Descale(tmp11 + odd2, shift);
            output[6] = Descale(tmp11 - odd2, shift);
            output[2] = Descale(tmp12 + odd1, shift);
            output[5] = Descale(tmp12 - odd1, shift);
            output[3] = Descale(tmp13 + odd0, shift);
            output[4] = Descale(tmp13 - odd0, shift);
        }
    }

    /// <summary>Rounding shift in 32 bits, then <c>packssdw</c>'s saturation to 16 bits.</summary>
    private static short Descale(int v, int n) => (short)Math.Clamp(unchecked(v + (1 << (n - 1))) >> n, short.MinValue, short.MaxValue);
}
