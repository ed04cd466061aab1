namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// The byte source, marker reader and entropy bit reader of libjpeg-turbo 2.1 (jdmarker.c <c>next_marker</c>,
/// <c>read_restart_marker</c>, <c>jpeg_resync_to_restart</c>; jdhuff.c <c>jpeg_fill_bit_buffer</c>,
/// <c>jpeg_huff_decode</c>) over a whole file, so that corrupt data is recovered from as libjpeg-turbo does: FF/00 is a
/// data byte, a marker ends the data and zeros are read after it (then <see cref="InsufficientData"/> is set and the
/// rest of the restart interval is skipped), a bad Huffman code reads as 0. Running out of bytes is an error, as Pillow
/// raises "image file is truncated".
/// </summary>
internal sealed class JpegBitReader(byte[] data)
{
    private const int BufferBits = 64;
    private const int MinGetBits = BufferBits - 7;
    private ulong buffer;
    private int bitsLeft;

    public int Position { get; private set; }
    public int Length => data.Length;
    /// <summary>The marker code (the byte after FF) read but not yet acted on; 0 when none.</summary>
    public int UnreadMarker { get; set; }
    public bool InsufficientData { get; set; }
    public int NextRestartNumber { get; set; }

    public int ReadByte() =>
        Position < data.Length ? data[Position++] : throw new InvalidDataException("JPEG data ends early (the file is truncated)");

    public int ReadUInt16() => (ReadByte() << 8) | ReadByte();

    public void Skip(int count)
    {
        if (count <= data.Length - Position) { Position += count; return; }
        Position = data.Length;   // like libjpeg's source, the skip consumes what there is and then runs dry
        throw new InvalidDataException("JPEG data ends early (the file is truncated)");
    }

    /// <summary><c>next_marker</c>: skips any bytes up to FF, fill FFs and FF/00 pairs, and keeps the marker code.</summary>
    public int NextMarker()
    {
        int c;
        do
        {
            c = ReadByte();
            while (c != 0xFF) c = ReadByte();
            do c = ReadByte(); while (c == 0xFF);
        } while (c == 0);
        return UnreadMarker = c;
    }

    /// <summary>Starts a scan or restart interval: leftover bits are dropped.</summary>
    public void DiscardBits() => bitsLeft = 0;

    /// <summary><c>read_restart_marker</c>, resynchronising as <c>jpeg_resync_to_restart</c> when it is not the next RSTn.</summary>
    public void ReadRestartMarker()
    {
        if (UnreadMarker == 0) NextMarker();
        if (UnreadMarker == 0xD0 + NextRestartNumber) UnreadMarker = 0;
        else Resync(NextRestartNumber);
        NextRestartNumber = (NextRestartNumber + 1) & 7;
    }

    private void Resync(int desired)
    {
        var marker = UnreadMarker;
        while (true)
        {
            int action;
            if (marker < 0xC0) action = 2;                       // not a valid marker: scan to the next one
            else if (marker is < 0xD0 or > 0xD7) action = 3;    // a valid non-restart marker: leave it for later
            else if (marker == 0xD0 + ((desired + 1) & 7) || marker == 0xD0 + ((desired + 2) & 7)) action = 3;
            else if (marker == 0xD0 + ((desired - 1) & 7) || marker == 0xD0 + ((desired - 2) & 7)) action = 2;
            else action = 1;                                     // the desired restart, or too far away
            if (action == 1) { UnreadMarker = 0; return; }
            if (action == 3) return;
            marker = NextMarker();
        }
    }

    /// <summary><c>jpeg_fill_bit_buffer</c>: loads bytes up to a marker; past it, zeros (and the data is insufficient).</summary>
    private void Fill(int nbits)
    {
        if (UnreadMarker == 0)
        {
            while (bitsLeft < MinGetBits)
            {
                var c = ReadByte();
                if (c == 0xFF)
                {
                    do c = ReadByte(); while (c == 0xFF);
                    if (c != 0) { UnreadMarker = c; break; }
                    c = 0xFF;
                }
                buffer = (buffer << 8) | (uint)c;
                bitsLeft += 8;
            }
            if (UnreadMarker == 0) return;
        }
        if (nbits > bitsLeft)
        {
            InsufficientData = true;
            buffer <<= MinGetBits - bitsLeft;
            bitsLeft = MinGetBits;
        }
    }

    public int GetBits(int n)
    {
        if (n == 0) return 0;
        if (bitsLeft < n) Fill(n);
        bitsLeft -= n;
        return (int)(buffer >> bitsLeft) & ((1 << n) - 1);
    }

    /// <summary><c>HUFF_DECODE</c>: an 8-bit lookahead when 8 bits are at hand, else bit-serial as <c>jpeg_huff_decode</c>.</summary>
    public int Decode(JpegHuffmanTable table)
    {
        var length = 1;
        if (bitsLeft < JpegHuffmanTable.LookaheadBits) Fill(0);
        if (bitsLeft >= JpegHuffmanTable.LookaheadBits)
        {
            var entry = table.Lookup[(int)(buffer >> (bitsLeft - JpegHuffmanTable.LookaheadBits)) & 0xFF];
            length = entry >> JpegHuffmanTable.LookaheadBits;
            if (length <= JpegHuffmanTable.LookaheadBits)
            {
                bitsLeft -= length;
                return entry & 0xFF;
            }
        }
        long code = GetBits(length);
        while (code > table.MaxCode[length])
        {
            code = (code << 1) | (uint)GetBits(1);
            length++;
        }
        return length > 16 ? 0 : table.Symbols[(int)(code + table.ValueOffset[length]) & 0xFF];
    }

    /// <summary><c>HUFF_EXTEND</c>: an s-bit magnitude category value to its signed value.</summary>
    public static int Extend(int x, int s) => x < 1 << (s - 1) ? x - (1 << s) + 1 : x;
}
