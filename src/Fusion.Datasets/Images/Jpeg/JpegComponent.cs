namespace Fusion.Datasets.Images.Jpeg;

/// <summary>
/// One colour component of a frame (libjpeg's <c>jpeg_component_info</c>) with its whole coefficient array, in natural
/// (row-major) order per 8×8 block. The array covers whole MCUs, since interleaved scans code the dummy blocks past the
/// right and bottom edges too.
/// </summary>
internal sealed class JpegComponent
{
    public required int Id { get; init; }
    public required int H { get; init; }
    public required int V { get; init; }
    public required int QuantTableNumber { get; init; }
    public int DcTable { get; set; }
    public int AcTable { get; set; }
    /// <summary>The quantisation table in natural order, copied when the component's first scan starts (libjpeg latches it then).</summary>
    public ushort[]? Quant { get; set; }
    /// <summary>Per coefficient, the successive-approximation bit last coded (−1: never), for block smoothing.</summary>
    public int[] CoefBits { get; } = Enumerable.Repeat(-1, 64).ToArray();
    /// <summary>The first ten <see cref="CoefBits"/> as they were before the component's latest scan.</summary>
    public int[] PreviousCoefBits { get; } = new int[10];

    public int WidthInBlocks { get; private set; }
    public int HeightInBlocks { get; private set; }
    public int DownsampledWidth { get; private set; }
    public int DownsampledHeight { get; private set; }
    /// <summary>Blocks per row and rows of blocks of the coefficient array (whole MCUs).</summary>
    public int BlocksPerLine { get; private set; }
    public int BlockRows { get; private set; }
    public short[] Coefficients { get; private set; } = [];

    /// <summary>jdinput.c <c>initial_setup</c>: the component's size in blocks and samples, and its coefficient array.</summary>
    public void Allocate(int width, int height, int maxH, int maxV)
    {
        WidthInBlocks = CeilDiv(width * H, maxH * 8);
        HeightInBlocks = CeilDiv(height * V, maxV * 8);
        DownsampledWidth = CeilDiv(width * H, maxH);
        DownsampledHeight = CeilDiv(height * V, maxV);
        BlocksPerLine = CeilDiv(width, maxH * 8) * H;
        BlockRows = CeilDiv(height, maxV * 8) * V;
        Coefficients = new short[(long)BlocksPerLine * BlockRows * 64 <= Array.MaxLength
            ? BlocksPerLine * BlockRows * 64
            : throw new InvalidDataException($"JPEG of {width}×{height} is too large to decode in memory")];
    }

    /// <summary>The offset of block (column, row) in <see cref="Coefficients"/>.</summary>
    public int BlockOffset(int column, int row) => (row * BlocksPerLine + column) * 64;

    private static int CeilDiv(int a, int b) => (int)(((long)a + b - 1) / b);
}
