using System.Text.Json;
using Fusion.Artifacts.Tables;

namespace Fusion.Datasets.Coco;

public sealed record CocoImage(long Id, string FileName, string? CocoUrl, int Width, int Height);

public sealed record CocoCaption(long ImageId, long Id, string Text);

/// <summary>A captions file that cannot be used: malformed JSON (with line and byte position) or missing fields.</summary>
public sealed class CocoFormatException(string message, Exception? inner = null) : FormatException(message, inner);

/// <summary>
/// A COCO captions file (<c>captions_{train,val}2014.json</c>: <c>images[{id, file_name, coco_url, width, height}]</c>,
/// <c>annotations[{image_id, id, caption}]</c>). Images are in ascending id order (the reference's
/// <c>sorted(coco.imgs.keys())</c>); each image's captions keep file order (pycocotools' <c>getAnnIds</c> order).
/// Images without captions and captions of unknown images are reported, not fatal.
/// </summary>
public sealed class CocoCaptions
{
    public required string Source { get; init; }
    public required IReadOnlyList<CocoImage> Images { get; init; }
    public required IReadOnlyDictionary<long, IReadOnlyList<CocoCaption>> CaptionsByImage { get; init; }
    public required IReadOnlyList<long> ImagesWithoutCaptions { get; init; }
    public required IReadOnlyList<CocoCaption> CaptionsForMissingImages { get; init; }

    public int CaptionCount => CaptionsByImage.Values.Sum(c => c.Count);

    public IReadOnlyList<CocoCaption> CaptionsOf(long imageId) => CaptionsByImage.GetValueOrDefault(imageId) ?? [];

    /// <summary>Images that have at least one caption, ascending id (what the training and eval sets index).</summary>
    public IEnumerable<CocoImage> CaptionedImages => Images.Where(i => CaptionsByImage.ContainsKey(i.Id));

    /// <summary>Rows for <see cref="CaptionsTable"/>: sorted image order, file order within an image.</summary>
    public IEnumerable<CaptionRow> Rows() =>
        CaptionedImages.SelectMany(i => CaptionsByImage[i.Id].Select(c => new CaptionRow(c.ImageId, c.Id, c.Text)));

    /// <summary>Human-readable problems (empty when none).</summary>
    public IEnumerable<string> Problems()
    {
        if (ImagesWithoutCaptions.Count > 0)
            yield return $"{Source}: {ImagesWithoutCaptions.Count} image(s) without captions: {Preview(ImagesWithoutCaptions)}";
        if (CaptionsForMissingImages.Count > 0)
            yield return $"{Source}: {CaptionsForMissingImages.Count} caption(s) for images not in the file: " +
                         Preview(CaptionsForMissingImages.Select(c => $"caption {c.Id} → image {c.ImageId}").ToList());
    }

    static string Preview<T>(IReadOnlyList<T> items) => string.Join(", ", items.Take(10)) + (items.Count > 10 ? ", …" : "");

    public static CocoCaptions Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Parse(stream, path);
    }

    public static CocoCaptions Parse(Stream json, string sourceName)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e)
        {
            throw new CocoFormatException($"{sourceName}: malformed JSON at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1} in that line: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{sourceName}: top level is {root.ValueKind}, expected an object");
            var images = new List<CocoImage>();
            var i = 0;
            foreach (var e in Array(root, "images", sourceName))
            {
                var where = $"{sourceName}: images[{i++}]";
                images.Add(new CocoImage(Long(e, "id", where), String(e, "file_name", where),
                    e.TryGetProperty("coco_url", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null,
                    e.TryGetProperty("width", out var w) && w.ValueKind == JsonValueKind.Number ? w.GetInt32() : 0,
                    e.TryGetProperty("height", out var h) && h.ValueKind == JsonValueKind.Number ? h.GetInt32() : 0));
            }
            images.Sort((a, b) => a.Id.CompareTo(b.Id));
            for (var k = 1; k < images.Count; k++)
                if (images[k].Id == images[k - 1].Id) throw new CocoFormatException($"{sourceName}: image id {images[k].Id} appears twice");
            var known = images.Select(x => x.Id).ToHashSet();
            var byImage = new Dictionary<long, List<CocoCaption>>();
            var orphans = new List<CocoCaption>();
            i = 0;
            foreach (var e in Array(root, "annotations", sourceName))
            {
                var where = $"{sourceName}: annotations[{i++}]";
                var c = new CocoCaption(Long(e, "image_id", where), Long(e, "id", where), String(e, "caption", where));
                if (!known.Contains(c.ImageId)) { orphans.Add(c); continue; }
                if (!byImage.TryGetValue(c.ImageId, out var list)) byImage[c.ImageId] = list = [];
                list.Add(c);
            }
            return new CocoCaptions
            {
                Source = sourceName,
                Images = images,
                CaptionsByImage = byImage.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<CocoCaption>)kv.Value),
                ImagesWithoutCaptions = images.Where(x => !byImage.ContainsKey(x.Id)).Select(x => x.Id).ToList(),
                CaptionsForMissingImages = orphans,
            };
        }
    }

    static JsonElement.ArrayEnumerator Array(JsonElement root, string name, string source) =>
        root.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray()
            : throw new CocoFormatException($"{source}: top-level '{name}' array is missing");

    static long Long(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var x)
            ? x : throw new CocoFormatException($"{where}: '{name}' is missing or not an integer");

    static string String(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw new CocoFormatException($"{where}: '{name}' is missing or not a string");
}
