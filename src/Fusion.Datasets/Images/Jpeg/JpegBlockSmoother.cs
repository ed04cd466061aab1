namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// libjpeg-turbo 2.1's block smoothing for progressive images whose first nine AC coefficients are not all fully
/// refined (jdcoefct.c <c>decompress_smooth_data</c>): each still-zero, not-exact coefficient among them is estimated
/// from the DC values of the 5×5 neighbouring blocks (and the DC itself re-estimated when no AC data came at all),
/// with the same neighbour choice at the edges, integer formulas and clamps, before the IDCT.
/// </summary>
internal sealed class JpegBlockSmoother
{
    /// <summary>
    /// Per estimated coefficient (AC01, AC10, AC20, AC11, AC02, AC03, AC12, AC21, AC30): its natural-order position (also
    /// its quantiser's) and the weights over DC01..DC25 used when no AC data came and, for the first five, when some did.
    /// </summary>
    private static readonly (int Position, int[] NoAcData, int[]? WithAcData)[] Estimates =
    [
        (1, [-1, -1, 0, 1, 1, -3, 13, 0, -13, 3, -3, 38, 0, -38, 3, -3, 13, 0, -13, 3, -1, -1, 0, 1, 1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -7, 50, 0, -50, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        (8, [-1, -3, -3, -3, -1, -1, 13, 38, 13, -1, 0, 0, 0, 0, 0, 1, -13, -38, -13, 1, 1, 3, 3, 3, 1],
            [0, 0, -7, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, -50, 0, 0, 0, 0, 7, 0, 0]),
        (16, [0, 0, 1, 0, 0, 0, 2, 7, 2, 0, 0, -5, -14, -5, 0, 0, 2, 7, 2, 0, 0, 0, 1, 0, 0],
            [0, 0, -1, 0, 0, 0, 0, 13, 0, 0, 0, 0, -24, 0, 0, 0, 0, 13, 0, 0, 0, 0, -1, 0, 0]),
        (9, [-1, 0, 0, 0, 1, 0, 9, 0, -9, 0, 0, 0, 0, 0, 0, 0, -9, 0, 9, 0, 1, 0, 0, 0, -1],
            [0, -1, 0, 1, 0, -1, 10, 0, -10, 1, 0, 0, 0, 0, 0, 1, -10, 0, 10, -1, 0, 1, 0, -1, 0]),
        (2, [0, 0, 0, 0, 0, 0, 2, -5, 2, 0, 1, 7, -14, 7, 1, 0, 2, -5, 2, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 13, -24, 13, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        (3, [0, 0, 0, 0, 0, 0, 1, 0, -1, 0, 0, 2, 0, -2, 0, 0, 1, 0, -1, 0, 0, 0, 0, 0, 0], null),
        (10, [0, 0, 0, 0, 0, 0, 1, -3, 1, 0, 0, 0, 0, 0, 0, 0, -1, 3, -1, 0, 0, 0, 0, 0, 0], null),
        (17, [0, 0, 0, 0, 0, 0, 1, 0, -1, 0, 0, -3, 0, 3, 0, 0, 1, 0, -1, 0, 0, 0, 0, 0, 0], null),
        (24, [0, 0, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, -1, -2, -1, 0, 0, 0, 0, 0, 0], null),
    ];

    private static readonly int[] DcEstimate =
        [-2, -6, -8, -6, -2, -6, 6, 42, 6, -6, -8, 42, 152, 42, -8, -6, 6, 42, 6, -6, -2, -6, -8, -6, -2];

    private readonly JpegComponent component;
    private readonly int[] bits, previousBits;
    private readonly int lastGoodRow, lastRow;

    /// <param name="scans">How many scans the file had (with one, the "previous" state is unknown: −1).</param>
    /// <param name="lastGoodRow">The last iMCU row decoded with data to spare; rows after it use the previous scan's state.</param>
    /// <param name="rows">iMCU rows of the image.</param>
    public JpegBlockSmoother(JpegComponent component, int scans, int lastGoodRow, int rows)
    {
        this.component = component;
        bits = component.CoefBits[..10];
        previousBits = [.. Enumerable.Range(0, 10).Select(k => scans > 1 ? component.PreviousCoefBits[k] : -1)];
        (this.lastGoodRow, lastRow) = (lastGoodRow, rows - 1);
    }

    /// <summary>The smoothed coefficients of every block in block row <paramref name="by"/>, as IDCT input.</summary>
    public short[][] Row(int by)
    {
        var c = component;
        int v = c.V, imcu = by / v, blockRow = by % v;
        var blockRows = imcu < lastRow || c.HeightInBlocks % v == 0 ? v : c.HeightInBlocks % v;
        var prev = blockRow > 0 || imcu > 0 ? by - 1 : by;
        var prevPrev = blockRow > 1 || imcu > 1 ? by - 2 : prev;
        var next = blockRow < blockRows - 1 || imcu < lastRow ? by + 1 : by;
        var nextNext = blockRow < blockRows - 2 || imcu + 1 < lastRow ? by + 2 : next;
        int[] rows = [prevPrev, prev, by, next, nextNext];
        var coefBits = imcu > lastGoodRow ? previousBits : bits;
        var interpolateDc = coefBits[1..10].All(b => b == -1);

        // The sliding DC registers of jdcoefct.c: row r, columns b−2 … b+2, loaded as the C code loads them.
        var dc = new int[25];
        int Dc(int row, int column) => c.Coefficients[c.BlockOffset(column, row)];
        for (var r = 0; r < 5; r++)
            for (var k = 0; k < 5; k++) dc[r * 5 + k] = Dc(rows[r], 0);
        var last = c.WidthInBlocks - 1;
        var output = new short[c.WidthInBlocks][];
        for (var b = 0; b <= last; b++)
        {
            for (var r = 0; r < 5; r++)
            {
                if (b == 0 && b < last) dc[r * 5 + 3] = Dc(rows[r], b + 1);
                if (b + 1 < last) dc[r * 5 + 4] = Dc(rows[r], b + 2);
            }
            output[b] = Smooth(c.Coefficients.AsSpan(c.BlockOffset(b, by), 64), dc, coefBits, interpolateDc);
            for (var r = 0; r < 5; r++)
                for (var k = 0; k < 4; k++) dc[r * 5 + k] = dc[r * 5 + k + 1];
        }
        return output;
    }

    private short[] Smooth(ReadOnlySpan<short> block, int[] dc, int[] coefBits, bool interpolateDc)
    {
        var workspace = block.ToArray();
        var q = component.Quant!;
        long q00 = q[0];
        for (var e = 0; e < Estimates.Length; e++)
        {
            var (position, noAcData, withAcData) = Estimates[e];
            if (!interpolateDc && withAcData is null) break;           // AC03 … AC30 only when there is no AC data
            var al = coefBits[e + 1];
            if (al == 0 || workspace[position] != 0) continue;
            var num = q00 * Dot(interpolateDc ? noAcData : withAcData!, dc);
            workspace[position] = (short)Predict(num, q[position], al);
        }
        if (interpolateDc) workspace[0] = (short)Predict(q00 * Dot(DcEstimate, dc), q[0], 0);
        return workspace;
    }

    private static long Dot(int[] weights, int[] dc)
    {
        long sum = 0;
        for (var i = 0; i < 25; i++) sum += weights[i] * dc[i];
        return sum;
    }

    /// <summary>Rounded division by the quantiser (×256), clamped below 2^Al when Al &gt; 0, sign restored.</summary>
    private static int Predict(long num, long quant, int al)
    {
        var pred = (int)(((quant << 7) + Math.Abs(num)) / (quant << 8));
        if (al > 0 && pred >= 1 << al) pred = (1 << al) - 1;
        return num >= 0 ? pred : -pred;
    }
}
