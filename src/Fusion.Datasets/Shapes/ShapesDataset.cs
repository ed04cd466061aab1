using System.Globalization;
using Fusion.Artifacts.Tables;

namespace Fusion.Datasets.Shapes;

/// <summary>One caption's exact meaning (the metadata table <c>caption_meta.parquet</c>).</summary>
public sealed class ShapesCaptionRecord
{
    public long CaptionId { get; set; }
    public long ImageId { get; set; }
    public string Text { get; set; } = "";
    public int FirstCount { get; set; }
    public string FirstColour { get; set; } = "";
    public string FirstShape { get; set; } = "";
    /// <summary>"" for a single-group caption, else left_of, right_of, above, below.</summary>
    public string Relation { get; set; } = "";
    public int SecondCount { get; set; }
    public string SecondColour { get; set; } = "";
    public string SecondShape { get; set; } = "";

    public static ShapesCaptionRecord From(long captionId, long imageId, ShapesCaption c) => new()
    {
        CaptionId = captionId, ImageId = imageId, Text = c.Text,
        FirstCount = c.First.Count, FirstColour = ShapesVocabulary.Word(c.First.Colour), FirstShape = Name(c.First.Shape),
        Relation = c.Second is null ? "" : RelationName(c.Relation),
        SecondCount = c.Second?.Count ?? 0, SecondColour = c.Second is null ? "" : ShapesVocabulary.Word(c.Second.Colour),
        SecondShape = c.Second is null ? "" : Name(c.Second.Shape),
    };

    public ShapesCaption ToCaption()
    {
        var first = new ShapeGroup(FirstCount, Parse<ShapeColour>(FirstColour), Parse<ShapeKind>(FirstShape));
        if (Relation == "") return new ShapesCaption(first);
        var rel = Enum.GetValues<Relation>().FirstOrDefault(r => RelationName(r) == Relation, Shapes.Relation.None);
        if (rel == Shapes.Relation.None) throw new FormatException($"caption {CaptionId}: unknown relation '{Relation}'");
        return new ShapesCaption(first, rel, new ShapeGroup(SecondCount, Parse<ShapeColour>(SecondColour), Parse<ShapeKind>(SecondShape)));
    }

    internal static string Name(ShapeKind s) => s.ToString().ToLowerInvariant();
    static string RelationName(Relation r) => r switch
    {
        Shapes.Relation.LeftOf => "left_of", Shapes.Relation.RightOf => "right_of", Shapes.Relation.Above => "above", Shapes.Relation.Below => "below", _ => "",
    };
    T Parse<T>(string s) where T : struct, Enum =>
        Enum.TryParse<T>(s, ignoreCase: true, out var v) ? v : throw new FormatException($"caption {CaptionId}: unknown {typeof(T).Name} '{s}'");
}

/// <summary>One drawn object (the metadata table <c>objects.parquet</c>): exact ground truth in pixels.</summary>
public sealed class ShapesObjectRecord
{
    public long ImageId { get; set; }
    public int Index { get; set; }
    public string Shape { get; set; } = "";
    public string Colour { get; set; } = "";
    public int X0 { get; set; }
    public int Y0 { get; set; }
    public int Size { get; set; }
    /// <summary>0 for the caption's first group, 1 for the second.</summary>
    public int Group { get; set; }
}

public sealed record ShapesSplitFiles(string Directory)
{
    public string Captions => Path.Combine(Directory, ShapesDataset.CaptionsFile);
    public string Images => Path.Combine(Directory, ShapesDataset.ImagesFile);
    public string CaptionMeta => Path.Combine(Directory, ShapesDataset.CaptionMetaFile);
    public string Objects => Path.Combine(Directory, ShapesDataset.ObjectsFile);
}

/// <summary>
/// Writes a shapes split as the same tables the COCO path produces: <c>captions.parquet</c> (captions table),
/// <c>images.parquet</c> (tensor table, key = image id, uint8 [3, size, size] CHW pixels), plus the ground truth:
/// <c>caption_meta.parquet</c> (<see cref="ShapesCaptionRecord"/>) and <c>objects.parquet</c>
/// (<see cref="ShapesObjectRecord"/>). Caption ids are image id × 4 + k. File metadata records seed, split, size.
/// </summary>
public static class ShapesDataset
{
    public const string CaptionsFile = "captions.parquet";
    public const string ImagesFile = "images.parquet";
    public const string CaptionMetaFile = "caption_meta.parquet";
    public const string ObjectsFile = "objects.parquet";

    public static long CaptionId(long imageId, int k) => imageId * 4 + k;

    public static async Task<ShapesSplitFiles> WriteAsync(string directory, ShapesSplit split, int count, long seed, ShapesOptions? options = null,
        CancellationToken ct = default)
    {
        var o = options ?? new ShapesOptions();
        Directory.CreateDirectory(directory);
        var files = new ShapesSplitFiles(directory);
        var md = new Dictionary<string, string>
        {
            ["shapes.seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["shapes.split"] = split.ToString().ToLowerInvariant(),
            ["shapes.size"] = o.Size.ToString(CultureInfo.InvariantCulture),
            ["shapes.count"] = count.ToString(CultureInfo.InvariantCulture),
            ["shapes.relation_fraction"] = o.RelationFraction.ToString(CultureInfo.InvariantCulture),
            ["shapes.object_size"] = FormattableString.Invariant($"{o.ObjectSizeMin}–{o.ObjectSizeMax}"),
            ["shapes.colours"] = string.Join(",", o.Palette().Select(ShapesVocabulary.Word)),
        };
        var captions = new List<CaptionRow>();
        var meta = new List<ShapesCaptionRecord>();
        var objects = new List<ShapesObjectRecord>();
        await using (var images = await TensorTableWriter.CreateAsync(files.Images, TensorSpec.UInt8(3, o.Size, o.Size), metadata: md, ct: ct))
        {
            // Generated in parallel chunks, written in index order.
            foreach (var chunk in Enumerable.Range(0, count).Chunk(1024))
            {
                var samples = chunk.AsParallel().AsOrdered().WithCancellation(ct).Select(i => ShapesGenerator.Generate(split, i, seed, o)).ToList();
                foreach (var s in samples)
                {
                    await images.AddAsync(s.ImageId, ShapesRenderer.ToChw(s.Rgb, s.Size), ct: ct);
                    for (var k = 0; k < s.Captions.Count; k++)
                    {
                        var id = CaptionId(s.ImageId, k);
                        captions.Add(new CaptionRow(s.ImageId, id, s.Captions[k].Text));
                        meta.Add(ShapesCaptionRecord.From(id, s.ImageId, s.Captions[k]));
                    }
                    objects.AddRange(s.Objects.Select((ob, i) => new ShapesObjectRecord
                    {
                        ImageId = s.ImageId, Index = i, Shape = ShapesCaptionRecord.Name(ob.Shape), Colour = ShapesVocabulary.Word(ob.Colour),
                        X0 = ob.X0, Y0 = ob.Y0, Size = ob.Size, Group = ob.Group,
                    }));
                }
            }
            await images.CompleteAsync(ct);
        }
        await CaptionsTable.WriteAsync(files.Captions, captions, md, ct: ct);
        await RecordsTable.WriteAsync(files.CaptionMeta, meta, md, ct: ct);
        await RecordsTable.WriteAsync(files.Objects, objects, md, ct: ct);
        return files;
    }

    /// <summary>Caption id → exact meaning, for scoring samples generated from those captions.</summary>
    public static async Task<Dictionary<long, ShapesCaption>> ReadCaptionMeaningsAsync(string captionMetaPath, CancellationToken ct = default)
    {
        var map = new Dictionary<long, ShapesCaption>();
        await foreach (var r in RecordsTable.ReadAsync<ShapesCaptionRecord>(captionMetaPath, ct)) map[r.CaptionId] = r.ToCaption();
        return map;
    }
}
