namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// Progressive-scan bookkeeping of libjpeg-turbo 2.1: the band checks of jdphuff.c <c>start_pass_phuff_decoder</c>
/// (a bad progression is an error), the per-coefficient successive-approximation state, and the test of jdcoefct.c
/// <c>smoothing_ok</c> that decides whether libjpeg-turbo smooths the blocks of a progressive image whose first nine AC
/// coefficients are not all fully refined at the end.
/// </summary>
internal static class JpegSmoothing
{
    // Natural-order positions of the DC and first nine AC coefficients (Q01 … Q30 in jdcoefct.c).
    private static ReadOnlySpan<byte> SmoothedPositions => [0, 1, 8, 16, 9, 2, 3, 10, 17, 24];

    public static void StartProgressiveScan(JpegComponent[] inScan, int ss, int se, int ah, int al, int scanNumber)
    {
        var dcBand = ss == 0;
        var bad = dcBand ? se != 0 : ss > se || se >= 64 || inScan.Length != 1;
        if (ah != 0 && al != ah - 1) bad = true;
        if (al > 13) bad = true;
        if (bad) throw new InvalidDataException($"invalid JPEG progressive scan: Ss={ss} Se={se} Ah={ah} Al={al}");
        foreach (var c in inScan)
        {
            for (var k = Math.Min(ss, 1); k <= Math.Max(se, 9); k++)
                if (k < 10) c.PreviousCoefBits[k] = scanNumber > 1 ? c.CoefBits[k] : 0;
            for (var k = ss; k <= se; k++) c.CoefBits[k] = al;
        }
    }

    public static bool WouldApply(JpegComponent[] components)
    {
        var useful = false;
        foreach (var c in components)
        {
            if (c.Quant is not { } q) return false;
            foreach (var position in SmoothedPositions)
                if (q[position] == 0) return false;
            if (c.CoefBits[0] < 0) return false;
            for (var k = 1; k < 10; k++)
                if (c.CoefBits[k] != 0) useful = true;
        }
        return useful;
    }
}
