namespace Fusion.Datasets.Images.Jpeg;

/// <summary>A Huffman table as a DHT segment defines it: code counts per length 1..16 and the symbols in code order.</summary>
internal sealed record JpegHuffmanSpec(byte[] Counts, byte[] Symbols)
{
    /// <summary>
    /// The JPEG standard's K.3 tables, which libjpeg-turbo's sequential decoder uses for tables 0 and 1 when a file
    /// defines none (Motion-JPEG frames leave them out).
    /// </summary>
    public static JpegHuffmanSpec Standard(bool dc, int table) => (dc, table) switch
    {
        (true, 0) => new([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        (true, _) => new([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        (false, 0) => new([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d], Convert.FromHexString(
            "01020300041105122131410613516107227114328191A1082342B1C11552D1F02433627282090A161718191A25262728292A3435363738393A43" +
            "4445464748494A535455565758595A636465666768696A737475767778797A838485868788898A92939495969798999AA2A3A4A5A6A7A8A9AAB2" +
            "B3B4B5B6B7B8B9BAC2C3C4C5C6C7C8C9CAD2D3D4D5D6D7D8D9DAE1E2E3E4E5E6E7E8E9EAF1F2F3F4F5F6F7F8F9FA")),
        (false, _) => new([0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], Convert.FromHexString(
            "000102031104052131061241510761711322328108144291A1B1C109233352F0156272D10A162434E125F11718191A262728292A35363738393A" +
            "434445464748494A535455565758595A636465666768696A737475767778797A82838485868788898A92939495969798999AA2A3A4A5A6A7A8A9" +
            "AAB2B3B4B5B6B7B8B9BAC2C3C4C5C6C7C8C9CAD2D3D4D5D6D7D8D9DAE2E3E4E5E6E7E8E9EAF2F3F4F5F6F7F8F9FA")),
    };
}

/// <summary>
/// A decoding table derived as libjpeg-turbo 2.1's <c>jpeg_make_d_derived_tbl</c> does: the counts must form a legal
/// prefix code (no all-ones code), DC symbols must be 0..15; <see cref="MaxCode"/> / <see cref="ValueOffset"/> per code
/// length for bit-serial decoding (length 17 is a sentinel: a bad code decodes as 0 after 17 bits), and an 8-bit
/// lookahead table (<c>length &lt;&lt; 8 | symbol</c>, length 9 when the code is longer).
/// </summary>
internal sealed class JpegHuffmanTable
{
    public const int LookaheadBits = 8;
    public readonly long[] MaxCode = new long[18];
    public readonly long[] ValueOffset = new long[18];
    public readonly byte[] Symbols = new byte[256];
    public readonly int[] Lookup = new int[1 << LookaheadBits];

    public JpegHuffmanTable(JpegHuffmanSpec spec, bool dc)
    {
        var sizes = new List<int>();
        for (var l = 1; l <= 16; l++)
        {
            if (sizes.Count + spec.Counts[l - 1] > 256) throw Bad();
            for (var i = 0; i < spec.Counts[l - 1]; i++) sizes.Add(l);
        }
        var n = sizes.Count;
        spec.Symbols.AsSpan(0, Math.Min(n, spec.Symbols.Length)).CopyTo(Symbols);
        var codes = new long[n];
        long code = 0;
        for (int p = 0, si = n > 0 ? sizes[0] : 0; p < n; si++)
        {
            while (p < n && sizes[p] == si) codes[p++] = code++;
            if (code >= 1L << si) throw Bad();
            code <<= 1;
        }
        for (int l = 1, p = 0; l <= 16; l++)
        {
            if (spec.Counts[l - 1] == 0) { MaxCode[l] = -1; continue; }
            ValueOffset[l] = p - codes[p];
            p += spec.Counts[l - 1];
            MaxCode[l] = codes[p - 1];
        }
        MaxCode[17] = 0xFFFFF;
        Array.Fill(Lookup, (LookaheadBits + 1) << LookaheadBits);
        for (int l = 1, p = 0; l <= LookaheadBits; l++)
            for (var i = 0; i < spec.Counts[l - 1]; i++, p++)
            {
                var bits = (int)(codes[p] << (LookaheadBits - l));
                for (var k = 0; k < 1 << (LookaheadBits - l); k++) Lookup[bits + k] = (l << LookaheadBits) | Symbols[p];
            }
        if (dc && Symbols.AsSpan(0, n).ContainsAnyExceptInRange((byte)0, (byte)15)) throw Bad();
    }

    private static InvalidDataException Bad() => new("bogus Huffman table definition");
}
