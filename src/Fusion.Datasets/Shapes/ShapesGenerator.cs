namespace Fusion.Datasets.Shapes;

/// <summary>One generated sample: pixels (RGB24 HWC), the exact objects drawn, and its true captions (the first is the
/// primary one; a relation image also gets the converse statement).</summary>
public sealed record ShapesSample(long ImageId, int Size, byte[] Rgb, IReadOnlyList<ShapeObject> Objects, IReadOnlyList<ShapesCaption> Captions);

public sealed record ShapesOptions
{
    /// <summary>Image side in pixels (≥ 16; multiples of 2).</summary>
    public int Size { get; init; } = 32;
    /// <summary>Fraction of images showing two groups in a relation (the rest show one group of 1–4 objects).</summary>
    public double RelationFraction { get; init; } = 0.75;
    /// <summary>An object's side as a fraction of its cell (half the image), drawn uniformly in whole pixels between
    /// these bounds. The smallest may not go below the scorer's <see cref="AlignmentScorer.SmallestObjectFraction"/>
    /// (it would drop such objects as specks); the largest must leave a 1-pixel margin on each side.</summary>
    public double ObjectSizeMin { get; init; } = AlignmentScorer.SmallestObjectFraction;
    public double ObjectSizeMax { get; init; } = 0.8;
    /// <summary>How many colours captions use: the first of <see cref="ShapeColour"/>'s order (red, green, blue, yellow,
    /// magenta, cyan, white), 2 to 7. More colours make colour harder to get right by chance (1 in this many).</summary>
    public int Colours { get; init; } = 4;

    /// <summary>The colours captions use.</summary>
    public ShapeColour[] Palette()
    {
        var all = Enum.GetValues<ShapeColour>();
        if (Colours < 2 || Colours > all.Length)
            throw new ArgumentException($"{Colours} colours asked for; the palette has 2 to {all.Length} ({string.Join(", ", all.Select(ShapesVocabulary.Word))})");
        return all[..Colours];
    }

    /// <summary>The object sides in pixels for a cell of <paramref name="cell"/> pixels.</summary>
    public (int Min, int Max) ObjectPixels(int cell)
    {
        var (min, max) = ((int)Math.Round(ObjectSizeMin * cell), (int)Math.Round(ObjectSizeMax * cell));
        if (ObjectSizeMin < AlignmentScorer.SmallestObjectFraction)
            throw new ArgumentException($"object size {ObjectSizeMin} is below {AlignmentScorer.SmallestObjectFraction} of a cell, the smallest the scorer counts as an object");
        if (min > max)
            throw new ArgumentException($"object sizes {ObjectSizeMin}–{ObjectSizeMax} of a {cell}-pixel cell give {min}–{max} pixels; need min ≤ max");
        if (max > cell - 2)
            throw new ArgumentException($"object size {ObjectSizeMax} of a {cell}-pixel cell is {max} pixels; at most {cell - 2} leaves the 1-pixel margin");
        return (min, max);
    }
}

/// <summary>
/// Procedural images for the offline benchmark. The image is a 2×2 grid of cells; each object sits inside its own
/// cell with a margin (objects never touch or overlap). Relation images put group A in one column (row) and group B
/// in the other, so "A left of B" holds for every pair; single-group images scatter 1–4 objects over random cells.
/// Everything is a pure function of (seed, split, index).
/// </summary>
public static class ShapesGenerator
{
    /// <summary>Image ids of the val split start here (train ids start at 0), so ids are unique across splits.</summary>
    public const long ValIdOffset = 1_000_000_000;

    public static long ImageId(ShapesSplit split, int index) => (split == ShapesSplit.Val ? ValIdOffset : 0) + index;

    public static ShapesSample Generate(ShapesSplit split, int index, long seed, ShapesOptions? options = null)
    {
        var o = options ?? new ShapesOptions();
        if (o.Size < 16 || o.Size % 2 != 0) throw new ArgumentOutOfRangeException(nameof(options), o.Size, "image size must be even and at least 16");
        var rng = new SeededRandom.Stream(seed, (long)split, index);
        var cell = o.Size / 2;
        var (sizeMin, sizeMax) = o.ObjectPixels(cell);
        var colours = o.Palette();
        var shapes = Enum.GetValues<ShapeKind>();
        ShapeGroup RandomGroup(int count) => new(count, colours[rng.Next(colours.Length)], shapes[rng.Next(shapes.Length)]);

        ShapesCaption caption;
        List<(int Col, int Row, int Group)> cells;
        if (rng.NextDouble() < o.RelationFraction)
        {
            var a = RandomGroup(rng.Next(1, 3));
            ShapeGroup b;
            do b = RandomGroup(rng.Next(1, 3)); while (b.Colour == a.Colour && b.Shape == a.Shape);
            var relation = (Relation)rng.Next(1, 5);
            caption = new ShapesCaption(a, relation, b);
            // side of A along the relation's axis: 0 = left/top column or row
            var aSide = relation is Relation.LeftOf or Relation.Above ? 0 : 1;
            var horizontal = relation is Relation.LeftOf or Relation.RightOf;
            IEnumerable<(int, int, int)> Place(int count, int side, int group) =>
                (count == 2 ? [0, 1] : new[] { rng.Next(2) }).Select(k => horizontal ? (side, k, group) : (k, side, group));
            cells = [.. Place(a.Count, aSide, 0), .. Place(b.Count, 1 - aSide, 1)];
        }
        else
        {
            var g = RandomGroup(rng.Next(1, 5));
            caption = new ShapesCaption(g);
            var order = new[] { (0, 0), (1, 0), (0, 1), (1, 1) }.OrderBy(_ => rng.NextUInt64()).Take(g.Count);
            cells = order.Select(c => (c.Item1, c.Item2, 0)).ToList();
        }

        var groups = caption.Groups.ToArray();
        var objects = cells.Select(c =>
        {
            var size = rng.Next(sizeMin, sizeMax + 1);
            var slack = cell - size - 2; // ≥ 1 px margin on each side inside the cell
            var x0 = c.Col * cell + 1 + rng.Next(slack + 1);
            var y0 = c.Row * cell + 1 + rng.Next(slack + 1);
            var gr = groups[c.Group];
            return new ShapeObject(gr.Shape, gr.Colour, x0, y0, size, c.Group);
        }).ToList();
        var captions = caption.Converse is { } conv ? new[] { caption, conv } : [caption];
        return new ShapesSample(ImageId(split, index), o.Size, ShapesRenderer.Render(objects, o.Size), objects, captions);
    }

    public static IEnumerable<ShapesSample> GenerateSplit(ShapesSplit split, int count, long seed, ShapesOptions? options = null) =>
        Enumerable.Range(0, count).Select(i => Generate(split, i, seed, options));
}

public enum ShapesSplit { Train = 0, Val = 1 }
