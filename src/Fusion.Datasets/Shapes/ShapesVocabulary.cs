namespace Fusion.Datasets.Shapes;

public enum ShapeKind { Circle, Square, Triangle }

public enum ShapeColour { Red, Green, Blue, Yellow, Magenta, Cyan, White }

public enum Relation { None, LeftOf, RightOf, Above, Below }

/// <summary>
/// The shapes vocabulary: three shapes with very different fill ratios (square 1, circle ≈ π/4, triangle ≈ ½), seven
/// colours at least 130 apart in RGB and far from the black background (a dataset captions the first
/// <see cref="ShapesOptions.Colours"/> of them; four by default), four spatial relations. Chosen so that a tiny
/// pixel-space diffusion model can learn them in minutes and a deterministic analysis can check them exactly.
/// </summary>
public static class ShapesVocabulary
{
    public static readonly (byte R, byte G, byte B) Background = (0, 0, 0);

    public static (byte R, byte G, byte B) Rgb(ShapeColour c) => c switch
    {
        ShapeColour.Red => (230, 30, 30),
        ShapeColour.Green => (30, 200, 40),
        ShapeColour.Blue => (40, 80, 240),
        ShapeColour.Yellow => (240, 220, 30),
        ShapeColour.Magenta => (220, 40, 220),
        ShapeColour.Cyan => (30, 210, 220),
        ShapeColour.White => (235, 235, 235),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c, null),
    };

    public static string Word(ShapeColour c) => c.ToString().ToLowerInvariant();

    public static string Word(ShapeKind s, int count) => s.ToString().ToLowerInvariant() + (count == 1 ? "" : "s");

    public static string CountWord(int n) => n switch
    {
        1 => "a", 2 => "two", 3 => "three", 4 => "four",
        _ => throw new ArgumentOutOfRangeException(nameof(n), n, "counts are 1 to 4"),
    };

    public static string Phrase(Relation r) => r switch
    {
        Relation.LeftOf => "to the left of", Relation.RightOf => "to the right of", Relation.Above => "above", Relation.Below => "below",
        _ => throw new ArgumentOutOfRangeException(nameof(r), r, "no phrase for this relation"),
    };

    public static Relation Converse(Relation r) => r switch
    {
        Relation.LeftOf => Relation.RightOf, Relation.RightOf => Relation.LeftOf, Relation.Above => Relation.Below, Relation.Below => Relation.Above,
        _ => Relation.None,
    };
}

/// <summary>Count objects of one colour and shape, e.g. "two red circles".</summary>
public sealed record ShapeGroup(int Count, ShapeColour Colour, ShapeKind Shape)
{
    public override string ToString() => $"{ShapesVocabulary.CountWord(Count)} {ShapesVocabulary.Word(Colour)} {ShapesVocabulary.Word(Shape, Count)}";
}

/// <summary>
/// What a caption states: one group, or two groups in a relation ("two red circles to the left of a blue square").
/// <see cref="Text"/> is the caption itself; the record is its exact meaning for the scorer.
/// </summary>
public sealed record ShapesCaption(ShapeGroup First, Relation Relation = Relation.None, ShapeGroup? Second = null)
{
    public string Text => Second is null ? First.ToString() : $"{First} {ShapesVocabulary.Phrase(Relation)} {Second}";

    public int TotalCount => First.Count + (Second?.Count ?? 0);

    public IEnumerable<ShapeGroup> Groups => Second is null ? [First] : [First, Second];

    /// <summary>The same statement the other way round ("a blue square to the right of two red circles").</summary>
    public ShapesCaption? Converse => Second is null ? null : new ShapesCaption(Second, ShapesVocabulary.Converse(Relation), First);

    public override string ToString() => Text;
}

/// <summary>One drawn object: shape, colour, bounding square (x0, y0, size, pixels) and the group it belongs to.</summary>
public sealed record ShapeObject(ShapeKind Shape, ShapeColour Colour, int X0, int Y0, int Size, int Group)
{
    public double CenterX => X0 + Size / 2.0;
    public double CenterY => Y0 + Size / 2.0;
}
