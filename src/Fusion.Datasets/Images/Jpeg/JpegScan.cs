namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// One scan's entropy-coded data decoded into the components' coefficient arrays: sequential (jdhuff.c
/// <c>decode_mcu_slow</c>) or progressive (jdphuff.c: DC first / refine, AC first / refine), with restart intervals,
/// in the MCU order of libjpeg-turbo 2.1 (jdinput.c <c>per_scan_setup</c>, jdcoefct.c).
/// </summary>
internal sealed class JpegScan
{
    private const int MaxBlocksInMcu = 10;
    private readonly JpegBitReader reader;
    private readonly JpegComponent[] components;
    private readonly JpegHuffmanTable?[] dcTables;
    private readonly JpegHuffmanTable?[] acTables;
    private readonly int ss, se, ah, al, restartInterval;
    private readonly bool progressive;
    private readonly int[] lastDc;
    private int restartsToGo;
    private uint eobRun;

    /// <summary>
    /// The last iMCU row whose MCU started with data to spare (jdcoefct.c <c>last_good_iMCU_row</c>, carried across
    /// scans): block smoothing uses the previous scan's state below it.
    /// </summary>
    public int LastGoodRow { get; set; }

    public JpegScan(JpegBitReader reader, JpegComponent[] components, JpegHuffmanTable?[] dcTables, JpegHuffmanTable?[] acTables,
        (int Ss, int Se, int Ah, int Al) band, bool progressive, int restartInterval)
    {
        (this.reader, this.components, this.dcTables, this.acTables) = (reader, components, dcTables, acTables);
        (ss, se, ah, al) = band;
        (this.progressive, this.restartInterval) = (progressive, restartInterval);
        lastDc = new int[components.Length];
        restartsToGo = restartInterval;
    }

    /// <summary>
    /// Decodes every MCU of the scan. A single-component scan codes the component's real blocks one at a time; an
    /// interleaved scan codes whole MCUs (H×V blocks of each component, dummy edge blocks included).
    /// </summary>
    public void Decode(int mcusPerRow, int mcuRows)
    {
        reader.DiscardBits();
        reader.InsufficientData = false;
        var single = components.Length == 1;
        var (columns, rows) = single ? (components[0].WidthInBlocks, components[0].HeightInBlocks) : (mcusPerRow, mcuRows);
        var blocks = McuLayout(single);
        if (blocks.Count > MaxBlocksInMcu) throw new InvalidDataException($"JPEG MCU of {blocks.Count} blocks (libjpeg allows {MaxBlocksInMcu})");
        var offsets = new int[blocks.Count];
        for (var row = 0; row < rows; row++)
            for (var column = 0; column < columns; column++)
            {
                for (var b = 0; b < blocks.Count; b++)
                {
                    var (ci, dx, dy) = blocks[b];
                    var c = components[ci];
                    offsets[b] = single ? c.BlockOffset(column, row) : c.BlockOffset(column * c.H + dx, row * c.V + dy);
                }
                if (!reader.InsufficientData) LastGoodRow = single ? row / components[0].V : row;
                DecodeMcu(blocks, offsets);
            }
    }

    /// <summary>The blocks of one MCU as (scan component, column, row within the MCU).</summary>
    private List<(int Component, int Dx, int Dy)> McuLayout(bool single)
    {
        var blocks = new List<(int, int, int)>();
        for (var ci = 0; ci < components.Length; ci++)
        {
            var (h, v) = single ? (1, 1) : (components[ci].H, components[ci].V);
            for (var dy = 0; dy < v; dy++)
                for (var dx = 0; dx < h; dx++) blocks.Add((ci, dx, dy));
        }
        return blocks;
    }

    private void DecodeMcu(List<(int Component, int Dx, int Dy)> blocks, int[] offsets)
    {
        if (restartInterval != 0 && restartsToGo == 0) ProcessRestart();
        // DC refinement reads its bits whatever the data state (zeros change nothing); the others skip a starved segment.
        if (progressive && ss == 0 && ah != 0) DcRefine(blocks, offsets);
        else if (!reader.InsufficientData)
        {
            if (!progressive) for (var b = 0; b < blocks.Count; b++) Sequential(blocks[b].Component, offsets[b]);
            else if (ss == 0) for (var b = 0; b < blocks.Count; b++) DcFirst(blocks[b].Component, offsets[b]);
            else if (ah == 0) AcFirst(offsets[0]);
            else AcRefine(offsets[0]);
        }
        if (restartInterval != 0) restartsToGo--;
    }

    /// <summary><c>process_restart</c>: to the next RSTn, DC predictions and EOB run reset.</summary>
    private void ProcessRestart()
    {
        reader.DiscardBits();
        reader.ReadRestartMarker();
        Array.Clear(lastDc);
        eobRun = 0;
        restartsToGo = restartInterval;
        if (reader.UnreadMarker == 0) reader.InsufficientData = false;
    }

    private int DcDifference(int ci)
    {
        var s = reader.Decode(dcTables[components[ci].DcTable]!);
        return s == 0 ? 0 : JpegBitReader.Extend(reader.GetBits(s), s);
    }

    private void Sequential(int ci, int offset)
    {
        var block = components[ci].Coefficients;
        var dc = unchecked(lastDc[ci] + DcDifference(ci));
        lastDc[ci] = dc;
        block[offset] = unchecked((short)dc);
        var table = acTables[components[ci].AcTable]!;
        for (var k = 1; k < 64; k++)
        {
            var s = reader.Decode(table);
            int r = s >> 4;
            s &= 15;
            if (s != 0)
            {
                k += r;
                block[offset + JpegZigzag.Natural[k]] = (short)JpegBitReader.Extend(reader.GetBits(s), s);
            }
            else if (r != 15) break;
            else k += 15;
        }
    }

    private void DcFirst(int ci, int offset)
    {
        var diff = DcDifference(ci);
        var last = lastDc[ci];
        if (last >= 0 ? diff > int.MaxValue - last : diff < int.MinValue - last)
            throw new InvalidDataException("corrupt JPEG: DC coefficient out of range");
        lastDc[ci] = last + diff;
        components[ci].Coefficients[offset] = unchecked((short)(lastDc[ci] << al));
    }

    private void DcRefine(List<(int Component, int Dx, int Dy)> blocks, int[] offsets)
    {
        for (var b = 0; b < blocks.Count; b++)
            if (reader.GetBits(1) != 0) components[blocks[b].Component].Coefficients[offsets[b]] |= (short)(1 << al);
    }

    private void AcFirst(int offset)
    {
        if (eobRun > 0) { eobRun--; return; }
        var block = components[0].Coefficients;
        var table = acTables[components[0].AcTable]!;
        for (var k = ss; k <= se; k++)
        {
            var s = reader.Decode(table);
            int r = s >> 4;
            s &= 15;
            if (s != 0)
            {
                k += r;
                block[offset + JpegZigzag.Natural[k]] = unchecked((short)(JpegBitReader.Extend(reader.GetBits(s), s) << al));
            }
            else if (r == 15) k += 15;
            else
            {
                eobRun = (uint)((1 << r) + reader.GetBits(r)) - 1;
                break;
            }
        }
    }

    /// <summary><c>decode_mcu_AC_refine</c>: new ±1 coefficients and correction bits for the nonzero ones.</summary>
    private void AcRefine(int offset)
    {
        var block = components[0].Coefficients;
        var table = acTables[components[0].AcTable]!;
        int p1 = 1 << al, m1 = -1 << al;
        var k = ss;
        if (eobRun == 0)
            for (; k <= se; k++)
            {
                var s = reader.Decode(table);
                int r = s >> 4;
                s &= 15;
                if (s != 0) s = reader.GetBits(1) != 0 ? p1 : m1;
                else if (r != 15)
                {
                    eobRun = (uint)((1 << r) + reader.GetBits(r));
                    break;
                }
                do
                {
                    var at = offset + JpegZigzag.Natural[k];
                    if (block[at] != 0) Correct(block, at, p1, m1);
                    else if (--r < 0) break;
                    k++;
                } while (k <= se);
                if (s != 0) block[offset + JpegZigzag.Natural[k]] = (short)s;
            }
        if (eobRun == 0) return;
        for (; k <= se; k++)
        {
            var at = offset + JpegZigzag.Natural[k];
            if (block[at] != 0) Correct(block, at, p1, m1);
        }
        eobRun--;
    }

    private void Correct(short[] block, int at, int p1, int m1)
    {
        if (reader.GetBits(1) != 0 && (block[at] & p1) == 0)
            block[at] = unchecked((short)(block[at] + (block[at] >= 0 ? p1 : m1)));
    }
}
