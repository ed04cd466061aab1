namespace Fusion.Datasets.Shapes;

/// <summary>Rasterises objects as flat colours (no anti-aliasing) on the black background; RGB24 bytes, HWC.</summary>
public static class ShapesRenderer
{
    public static byte[] Render(IEnumerable<ShapeObject> objects, int size)
    {
        var rgb = new byte[size * size * 3];
        var bg = ShapesVocabulary.Background;
        for (var i = 0; i < size * size; i++) (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = bg;
        foreach (var o in objects)
        {
            var (r, g, b) = ShapesVocabulary.Rgb(o.Colour);
            for (var y = Math.Max(0, o.Y0); y < Math.Min(size, o.Y0 + o.Size); y++)
                for (var x = Math.Max(0, o.X0); x < Math.Min(size, o.X0 + o.Size); x++)
                    if (Covers(o, x + 0.5, y + 0.5))
                    {
                        var p = 3 * (y * size + x);
                        (rgb[p], rgb[p + 1], rgb[p + 2]) = (r, g, b);
                    }
        }
        return rgb;
    }

    /// <summary>Whether the point (pixel centre) lies inside the object.</summary>
    public static bool Covers(ShapeObject o, double px, double py)
    {
        double s = o.Size, u = px - o.X0, v = py - o.Y0; // local coordinates in [0, s]
        if (u < 0 || v < 0 || u > s || v > s) return false;
        return o.Shape switch
        {
            ShapeKind.Square => true,
            ShapeKind.Circle => (u - s / 2) * (u - s / 2) + (v - s / 2) * (v - s / 2) <= s * s / 4,
            // apex at the top centre, base along the bottom edge
            ShapeKind.Triangle => Math.Abs(u - s / 2) <= v / 2,
            _ => false,
        };
    }

    /// <summary>RGB24 HWC bytes → uint8 CHW (the tensor-table layout).</summary>
    public static byte[] ToChw(ReadOnlySpan<byte> hwc, int size)
    {
        var plane = size * size;
        var chw = new byte[3 * plane];
        for (var i = 0; i < plane; i++)
        {
            chw[i] = hwc[3 * i];
            chw[plane + i] = hwc[3 * i + 1];
            chw[2 * plane + i] = hwc[3 * i + 2];
        }
        return chw;
    }

    /// <summary>uint8 CHW (as stored) → RGB24 HWC bytes.</summary>
    public static byte[] FromChw(ReadOnlySpan<byte> chw, int size)
    {
        var plane = size * size;
        var hwc = new byte[3 * plane];
        for (var i = 0; i < plane; i++)
        {
            hwc[3 * i] = chw[i];
            hwc[3 * i + 1] = chw[plane + i];
            hwc[3 * i + 2] = chw[2 * plane + i];
        }
        return hwc;
    }
}
