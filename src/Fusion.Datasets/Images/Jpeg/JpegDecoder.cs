namespace Fusion.Datasets.Images.Jpeg;

/// <summary>The colour space libjpeg-turbo infers for a frame (jdapimin.c <c>default_decompress_parms</c>).</summary>
internal enum JpegColorSpace { Grayscale, YCbCr, Rgb, Cmyk, Ycck }

/// <summary>A decoded frame: every component upsampled to the full image, before colour conversion.</summary>
internal sealed record JpegPlanes(int Width, int Height, JpegColorSpace ColorSpace, byte[][] Planes);

/// <summary>
/// Decodes a baseline, extended-sequential or progressive Huffman-coded 8-bit JPEG as libjpeg-turbo 2.1 does with the
/// settings Pillow 9.4 uses (ISLOW IDCT, fancy upsampling, no scaling): markers, scans and restart intervals as in
/// jdmarker.c / jdinput.c, block smoothing where a progression is incomplete (<see cref="JpegBlockSmoother"/>), then
/// <see cref="JpegIdct"/> and <see cref="JpegUpsampler"/>. Arithmetic coding, lossless and hierarchical processes, and
/// 12-bit data are not supported (Pillow's libjpeg-turbo rejects the last three too).
/// </summary>
internal sealed class JpegDecoder
{
    private const int MaxDimension = 65500;                 // libjpeg's JPEG_MAX_DIMENSION
    private const long PillowMaxImagePixels = 89_478_485;   // Image.MAX_IMAGE_PIXELS; twice that raises DecompressionBombError
    private readonly JpegBitReader reader;
    private readonly ushort[]?[] quantTables = new ushort[4][];
    private readonly JpegHuffmanSpec?[] dcSpecs = new JpegHuffmanSpec[4];
    private readonly JpegHuffmanSpec?[] acSpecs = new JpegHuffmanSpec[4];
    private JpegComponent[] components = [];
    private int width, height, maxH, maxV, restartInterval, scans, lastGoodRow;
    private bool sawFrame, progressive, multipleScans, jfif, adobe;
    private int adobeTransform;
    private JpegColorSpace colorSpace;

    private JpegDecoder(byte[] data) => reader = new JpegBitReader(data);

    public static JpegPlanes Decode(byte[] data) => new JpegDecoder(data).Run();

    private JpegPlanes Run()
    {
        if (reader.ReadByte() != 0xFF || reader.ReadByte() != 0xD8) throw new InvalidDataException("not a JPEG file (no SOI marker)");
        while (true)
        {
            var marker = reader.UnreadMarker != 0 ? reader.UnreadMarker : reader.NextMarker();
            reader.UnreadMarker = 0;
            if (marker == 0xD9) break;                                            // EOI
            if (marker == 0xDA)
            {
                Scan();
                if (!multipleScans) { FinishSingleScan(); break; }
                continue;
            }
            Segment(marker);
        }
        if (!sawFrame || scans == 0) throw new InvalidDataException("JPEG has no image data (no frame or scan before EOI)");
        var smooth = progressive && JpegSmoothing.WouldApply(components);
        var rows = CeilDiv(height, maxV * 8);
        var planes = components.Select(c => JpegUpsampler.Upsample(c,
            JpegIdct.Plane(c, smooth ? new JpegBlockSmoother(c, scans, lastGoodRow, rows) : null), maxH, maxV, width, height)).ToArray();
        return new JpegPlanes(width, height, colorSpace, planes);
    }

    /// <summary>
    /// After the only scan of a single-scan image the pixels are complete; Pillow then reads on to EOI and tolerates
    /// the data ending first, but not a broken marker.
    /// </summary>
    private void FinishSingleScan()
    {
        try
        {
            while (true)
            {
                var marker = reader.UnreadMarker != 0 ? reader.UnreadMarker : reader.NextMarker();
                reader.UnreadMarker = 0;
                if (marker == 0xD9) return;
                if (marker == 0xDA) throw new InvalidDataException("JPEG has a second scan where one was expected (EOI expected)");
                Segment(marker);
            }
        }
        catch (InvalidDataException) when (reader.Position >= reader.Length) { }
    }

    private void Segment(int marker)
    {
        switch (marker)
        {
            case 0xC0 or 0xC1 or 0xC2: Frame(marker == 0xC2); break;
            case 0xC9 or 0xCA: throw new NotSupportedException("arithmetic-coded JPEG");
            case 0xC3 or (>= 0xC5 and <= 0xC7) or 0xC8 or 0xCB or (>= 0xCD and <= 0xCF):
                throw new NotSupportedException($"JPEG process SOF{marker - 0xC0} (lossless or hierarchical) is not supported");
            case 0xC4: HuffmanTables(); break;
            case 0xDB: QuantTables(); break;
            case 0xDD:
                if (reader.ReadUInt16() != 4) throw new InvalidDataException("bogus JPEG DRI marker length");
                restartInterval = reader.ReadUInt16();
                break;
            case 0xE0 or 0xEE: ApplicationMarker(marker); break;
            case (>= 0xE1 and <= 0xEF) or 0xFE or 0xDC or 0xCC: reader.Skip(Length()); break;   // APPn, COM, DNL, DAC
            case (>= 0xD0 and <= 0xD7) or 0x01: break;                                          // RSTn, TEM: no parameters
            default: throw new InvalidDataException($"unsupported JPEG marker 0x{marker:X2}");
        }
    }

    private int Length()
    {
        var length = reader.ReadUInt16() - 2;
        return length >= 0 ? length : throw new InvalidDataException("bogus JPEG marker length");
    }

    private void Frame(bool isProgressive)
    {
        var length = reader.ReadUInt16() - 8;
        var precision = reader.ReadByte();
        (height, width) = (reader.ReadUInt16(), reader.ReadUInt16());
        var count = reader.ReadByte();
        if (sawFrame) throw new InvalidDataException("JPEG has two SOF markers");
        if (height == 0 || width == 0 || count == 0) throw new InvalidDataException("empty JPEG image (DNL not supported)");
        if (length != count * 3) throw new InvalidDataException("bogus JPEG SOF marker length");
        if (precision != 8) throw new NotSupportedException($"{precision}-bit JPEG (8-bit only)");
        if (width > MaxDimension || height > MaxDimension) throw new InvalidDataException($"JPEG of {width}×{height} exceeds libjpeg's {MaxDimension}");
        if ((long)width * height > 2L * PillowMaxImagePixels)
            throw new InvalidDataException($"JPEG of {width}×{height} pixels is over Pillow's decompression-bomb limit ({2L * PillowMaxImagePixels})");
        if (count > 10) throw new InvalidDataException($"JPEG with {count} components (at most 10)");
        components = new JpegComponent[count];
        for (var i = 0; i < count; i++)
        {
            var (id, sampling, table) = (reader.ReadByte(), reader.ReadByte(), reader.ReadByte());
            components[i] = new JpegComponent { Id = id, H = sampling >> 4, V = sampling & 15, QuantTableNumber = table };
            if (components[i].H is < 1 or > 4 || components[i].V is < 1 or > 4) throw new InvalidDataException("bogus JPEG sampling factors");
        }
        (maxH, maxV) = (components.Max(c => c.H), components.Max(c => c.V));
        foreach (var c in components) c.Allocate(width, height, maxH, maxV);
        (sawFrame, progressive) = (true, isProgressive);
    }

    private void HuffmanTables()
    {
        var length = Length();
        while (length > 16)
        {
            var index = reader.ReadByte();
            var counts = new byte[16];
            for (var i = 0; i < 16; i++) counts[i] = (byte)reader.ReadByte();
            var count = counts.Sum(c => c);
            length -= 17;
            if (count > 256 || count > length) throw new InvalidDataException("bogus Huffman table definition");
            var symbols = new byte[256];
            for (var i = 0; i < count; i++) symbols[i] = (byte)reader.ReadByte();
            length -= count;
            var table = index & ~0x10;
            if (table >= 4) throw new InvalidDataException($"bogus JPEG DHT index {table}");
            ((index & 0x10) != 0 ? acSpecs : dcSpecs)[table] = new JpegHuffmanSpec(counts, symbols);
        }
        if (length != 0) throw new InvalidDataException("bogus JPEG DHT marker length");
    }

    private void QuantTables()
    {
        var length = Length();
        while (length > 0)
        {
            var n = reader.ReadByte();
            var (wide, table) = (n >> 4 != 0, n & 15);
            if (table >= 4) throw new InvalidDataException($"bogus JPEG DQT index {table}");
            var values = new ushort[64];
            for (var i = 0; i < 64; i++) values[JpegZigzag.Natural[i]] = (ushort)(wide ? reader.ReadUInt16() : reader.ReadByte());
            quantTables[table] = values;
            length -= wide ? 129 : 65;
        }
        if (length != 0) throw new InvalidDataException("bogus JPEG DQT marker length");
    }

    /// <summary>APP0 "JFIF\0" (14 bytes at least) and APP14 "Adobe" (12 bytes at least, transform in byte 11).</summary>
    private void ApplicationMarker(int marker)
    {
        var length = Length();
        var head = new byte[Math.Min(length, 14)];
        for (var i = 0; i < head.Length; i++) head[i] = (byte)reader.ReadByte();
        reader.Skip(length - head.Length);
        if (marker == 0xE0 && head.Length >= 14 && head.AsSpan(0, 5).SequenceEqual("JFIF\0"u8)) jfif = true;
        if (marker == 0xEE && head.Length >= 12 && head.AsSpan(0, 5).SequenceEqual("Adobe"u8)) (adobe, adobeTransform) = (true, head[11]);
    }

    /// <summary>An SOS segment and its entropy-coded data (jdmarker.c <c>get_sos</c>, jdinput.c, jdhuff.c / jdphuff.c start of pass).</summary>
    private void Scan()
    {
        if (!sawFrame) throw new InvalidDataException("JPEG SOS marker before SOF");
        var length = reader.ReadUInt16();
        var n = reader.ReadByte();
        if (length != n * 2 + 6 || n is < 1 or > 4) throw new InvalidDataException("bogus JPEG SOS marker length");
        var slots = new JpegComponent?[4];
        for (var i = 0; i < n; i++)
        {
            var (id, tables) = (reader.ReadByte(), reader.ReadByte());
            // As libjpeg-turbo matches: the first frame component (of the first four) with this id whose slot is free.
            var ci = Enumerable.Range(0, Math.Min(components.Length, 4)).FirstOrDefault(k => components[k].Id == id && slots[k] is null, -1);
            if (ci < 0 || slots.Take(i).Contains(components[ci])) throw new InvalidDataException($"invalid component id {id} in JPEG SOS");
            slots[i] = components[ci];
            (components[ci].DcTable, components[ci].AcTable) = (tables >> 4, tables & 15);
        }
        var inScan = slots.Take(n).Select(c => c!).ToArray();
        var (ss, se, a) = (reader.ReadByte(), reader.ReadByte(), reader.ReadByte());
        var (ah, al) = (a >> 4, a & 15);
        reader.NextRestartNumber = 0;
        if (scans++ == 0) FirstScan(n);
        foreach (var c in inScan)
            c.Quant ??= c.QuantTableNumber < 4 && quantTables[c.QuantTableNumber] is { } q
                ? (ushort[])q.Clone()
                : throw new InvalidDataException($"JPEG quantization table 0x{c.QuantTableNumber:X2} was not defined");
        if (progressive) JpegSmoothing.StartProgressiveScan(inScan, ss, se, ah, al, scans);
        var (dc, ac) = (new JpegHuffmanTable?[4], new JpegHuffmanTable?[4]);
        foreach (var c in inScan)
        {
            if (!progressive || ss == 0 && ah == 0) { var t = Derived(dcSpecs, c.DcTable, dc: true); dc[c.DcTable] = t; }
            if (!progressive || ss != 0) { var t = Derived(acSpecs, c.AcTable, dc: false); ac[c.AcTable] = t; }
        }
        var scan = new JpegScan(reader, inScan, dc, ac, (ss, se, ah, al), progressive, restartInterval) { LastGoodRow = lastGoodRow };
        scan.Decode(CeilDiv(width, maxH * 8), CeilDiv(height, maxV * 8));
        lastGoodRow = scan.LastGoodRow;
    }

    /// <summary>
    /// At the first scan libjpeg-turbo fixes the colour space from the markers seen so far, decides whether the image
    /// has several scans (progressive, or fewer components than the frame), and a sequential decoder fills Huffman
    /// tables 0 and 1 left undefined with the standard ones.
    /// </summary>
    private void FirstScan(int componentsInScan)
    {
        colorSpace = ColorSpace();
        multipleScans = progressive || componentsInScan < components.Length;
        if (progressive) return;
        for (var t = 0; t < 2; t++)
        {
            dcSpecs[t] ??= JpegHuffmanSpec.Standard(dc: true, t);
            acSpecs[t] ??= JpegHuffmanSpec.Standard(dc: false, t);
        }
    }

    private static JpegHuffmanTable Derived(JpegHuffmanSpec?[] specs, int table, bool dc) =>
        table < 4 && specs[table] is { } spec ? new JpegHuffmanTable(spec, dc) : throw new InvalidDataException($"JPEG Huffman table 0x{table:X2} was not defined");

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;

    private JpegColorSpace ColorSpace() => components.Length switch
    {
        1 => JpegColorSpace.Grayscale,
        3 when jfif => JpegColorSpace.YCbCr,
        3 when adobe => adobeTransform == 0 ? JpegColorSpace.Rgb : JpegColorSpace.YCbCr,
        3 => components[0].Id == 82 && components[1].Id == 71 && components[2].Id == 66 ? JpegColorSpace.Rgb : JpegColorSpace.YCbCr,
        4 => adobe && adobeTransform == 0 || !adobe ? JpegColorSpace.Cmyk : JpegColorSpace.Ycck,
        _ => throw new NotSupportedException($"JPEG with {components.Length} components (Pillow opens 1, 3 or 4)"),
    };
}
