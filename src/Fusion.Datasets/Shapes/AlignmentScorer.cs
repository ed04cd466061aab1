namespace Fusion.Datasets.Shapes;

/// <summary>An object found in an image: its palette colour, classified shape, centroid, area and fill ratio.</summary>
public sealed record DetectedObject(ShapeColour Colour, ShapeKind Shape, double CenterX, double CenterY, int Area, double Fill);

/// <summary>
/// How an image matches its caption, one attribute at a time (as GenEval separates counting from colours). Count: as
/// many objects as stated. Colour / Shape: the set of detected colours (shapes) equals the stated set, whatever the
/// number of objects, so a caption-blind generator scores 1/4 on colour and 1/3 on shape for one-group captions.
/// Binding: the set of (colour, shape) pairs equals the stated one. Relation (null for single-group captions): both
/// groups are present and every object of the first stands in the stated relation to every object of the second.
/// <see cref="All"/> is the exact match: count, binding and relation together.
/// </summary>
public sealed record AlignmentResult(bool Count, bool Colour, bool Shape, bool Binding, bool? Relation, IReadOnlyList<DetectedObject> Objects)
{
    public bool All => Count && Colour && Shape && Binding && Relation != false;
}

public sealed record AlignmentSummary(int Images, double CountAccuracy, double ColourAccuracy, double ShapeAccuracy, double BindingAccuracy,
    int RelationImages, double RelationAccuracy, double AllCorrect);

/// <summary>
/// Deterministic analysis of a shapes image: each pixel takes the nearest colour of the whole palette (whatever colours
/// a dataset's captions use: a cyan blob is not blue) or background when far from all, 4-connected components of one
/// colour are objects (tiny specks are dropped), a component's fill ratio of its bounding box classifies the shape
/// (square ≈ 1, circle ≈ 0.79, triangle ≈ 0.5), its centroid gives its position.
/// </summary>
public static class AlignmentScorer
{
    /// <summary>Pixels farther than this (RGB distance) from every palette colour count as background.</summary>
    public const double MaxColourDistance = 110;
    public const double SquareMinFill = 0.9;
    public const double CircleMinFill = 0.66;

    /// <summary>The smallest object side the scorer expects, as a fraction of a cell (half the image side); the
    /// generator draws no smaller object.</summary>
    public const double SmallestObjectFraction = 0.55;

    /// <summary>Components smaller than this are noise: a third of the smallest triangle the generator may draw.</summary>
    public static int MinArea(int size) => Math.Max(3, (int)(SmallestObjectFraction * size / 2 * SmallestObjectFraction * size / 2 * 0.5 / 3));

    /// <summary>Objects in an RGB24 HWC image of side <paramref name="size"/>.</summary>
    public static IReadOnlyList<DetectedObject> Detect(ReadOnlySpan<byte> rgb, int size)
    {
        if (rgb.Length != size * size * 3) throw new ArgumentException($"RGB image of side {size} needs {size * size * 3} bytes, got {rgb.Length}");
        var colours = Enum.GetValues<ShapeColour>();
        var label = new int[size * size]; // -1 background, else colour index
        for (var i = 0; i < size * size; i++)
        {
            int r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
            var best = -1;
            double bestD = Dist(r, g, b, ShapesVocabulary.Background);
            for (var c = 0; c < colours.Length; c++)
            {
                var d = Dist(r, g, b, ShapesVocabulary.Rgb(colours[c]));
                if (d < bestD) (best, bestD) = (c, d);
            }
            label[i] = best >= 0 && bestD <= MaxColourDistance ? best : -1;
        }
        var seen = new bool[size * size];
        var found = new List<DetectedObject>();
        var stack = new Stack<int>();
        var minArea = MinArea(size);
        for (var start = 0; start < size * size; start++)
        {
            if (label[start] < 0 || seen[start]) continue;
            var c = label[start];
            int area = 0, minX = size, minY = size, maxX = -1, maxY = -1;
            double sx = 0, sy = 0;
            stack.Push(start); seen[start] = true;
            while (stack.Count > 0)
            {
                var p = stack.Pop();
                int x = p % size, y = p / size;
                area++; sx += x + 0.5; sy += y + 0.5;
                minX = Math.Min(minX, x); maxX = Math.Max(maxX, x); minY = Math.Min(minY, y); maxY = Math.Max(maxY, y);
                foreach (var q in (ReadOnlySpan<int>)[x > 0 ? p - 1 : -1, x < size - 1 ? p + 1 : -1, y > 0 ? p - size : -1, y < size - 1 ? p + size : -1])
                    if (q >= 0 && !seen[q] && label[q] == c) { seen[q] = true; stack.Push(q); }
            }
            if (area < minArea) continue;
            var fill = area / (double)((maxX - minX + 1) * (maxY - minY + 1));
            var shape = fill >= SquareMinFill ? ShapeKind.Square : fill >= CircleMinFill ? ShapeKind.Circle : ShapeKind.Triangle;
            found.Add(new DetectedObject(colours[c], shape, sx / area, sy / area, area, fill));
        }
        return found;
    }

    /// <summary>Objects in a float CHW image in [−1, 1] (a model's output); values are rounded to bytes like a PNG save.</summary>
    public static IReadOnlyList<DetectedObject> Detect(ReadOnlySpan<float> chw, int size)
    {
        var plane = size * size;
        if (chw.Length != 3 * plane) throw new ArgumentException($"CHW image of side {size} needs {3 * plane} floats, got {chw.Length}");
        var rgb = new byte[3 * plane];
        for (var i = 0; i < plane; i++)
            for (var ch = 0; ch < 3; ch++)
                rgb[3 * i + ch] = (byte)Math.Clamp(MathF.Floor((chw[ch * plane + i] + 1f) * 127.5f + 0.5f), 0, 255);
        return Detect(rgb, size);
    }

    static double Dist(int r, int g, int b, (byte R, byte G, byte B) p) =>
        Math.Sqrt((r - p.R) * (r - p.R) + (g - p.G) * (g - p.G) + (b - p.B) * (b - p.B));

    public static AlignmentResult Score(IReadOnlyList<DetectedObject> found, ShapesCaption caption)
    {
        var groups = caption.Groups.ToList();
        static bool SameSet<T>(IEnumerable<T> found, IEnumerable<T> stated) => found.ToHashSet().SetEquals(stated);
        var count = found.Count == caption.TotalCount;
        var colour = SameSet(found.Select(o => o.Colour), groups.Select(g => g.Colour));
        var shape = SameSet(found.Select(o => o.Shape), groups.Select(g => g.Shape));
        var binding = SameSet(found.Select(o => (o.Colour, o.Shape)), groups.Select(g => (g.Colour, g.Shape)));
        bool? relation = null;
        if (caption.Second is { } second)
        {
            var a = found.Where(o => o.Colour == caption.First.Colour && o.Shape == caption.First.Shape).ToList();
            var b = found.Where(o => o.Colour == second.Colour && o.Shape == second.Shape).ToList();
            relation = a.Count > 0 && b.Count > 0 && a.All(p => b.All(q => Holds(caption.Relation, p, q)));
        }
        return new AlignmentResult(count, colour, shape, binding, relation, found);
    }

    static bool Holds(Relation r, DetectedObject a, DetectedObject b) => r switch
    {
        Relation.LeftOf => a.CenterX < b.CenterX,
        Relation.RightOf => a.CenterX > b.CenterX,
        Relation.Above => a.CenterY < b.CenterY,
        Relation.Below => a.CenterY > b.CenterY,
        _ => true,
    };

    public static AlignmentResult Score(ReadOnlySpan<byte> rgb, int size, ShapesCaption caption) => Score(Detect(rgb, size), caption);

    public static AlignmentResult Score(ReadOnlySpan<float> chw, int size, ShapesCaption caption) => Score(Detect(chw, size), caption);

    /// <summary>
    /// Chance level: the accuracies of a generator that draws perfect images but ignores its caption — every image's
    /// objects scored against every other image's caption (all ordered pairs i ≠ j).
    /// </summary>
    public static AlignmentSummary CaptionBlind(IReadOnlyList<IReadOnlyList<DetectedObject>> found, IReadOnlyList<ShapesCaption> captions)
    {
        if (found.Count != captions.Count) throw new ArgumentException($"{found.Count} images but {captions.Count} captions");
        var results = new List<AlignmentResult>(found.Count * Math.Max(0, found.Count - 1));
        for (var i = 0; i < found.Count; i++)
            for (var j = 0; j < captions.Count; j++)
                if (i != j) results.Add(Score(found[i], captions[j]));
        return Summarize(results);
    }

    public static AlignmentSummary Summarize(IReadOnlyCollection<AlignmentResult> results)
    {
        double Mean(Func<AlignmentResult, bool> f) => results.Count == 0 ? 0 : results.Count(f) / (double)results.Count;
        var rel = results.Where(r => r.Relation is not null).ToList();
        return new AlignmentSummary(results.Count, Mean(r => r.Count), Mean(r => r.Colour), Mean(r => r.Shape), Mean(r => r.Binding),
            rel.Count, rel.Count == 0 ? 0 : rel.Count(r => r.Relation == true) / (double)rel.Count, Mean(r => r.All));
    }
}
