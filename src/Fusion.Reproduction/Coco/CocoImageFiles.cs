using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Coco;

/// <summary>One image of a <c>coco-download</c> artifact: its id and its file under <c>{split}/images/</c>.</summary>
public sealed class ImageFileRecord
{
    public long ImageId { get; set; }
    public string FileName { get; set; } = "";
}

/// <summary>The layout of a <c>coco-download</c> artifact: <c>{split}/captions.parquet</c>, <c>{split}/image_files.parquet</c>, <c>{split}/images/*</c>.</summary>
public static class CocoImageFiles
{
    public static string Captions(string split) => $"{split}/captions.parquet";
    public static string List(string split) => $"{split}/image_files.parquet";
    public static string Image(string split, string fileName) => $"{split}/images/{fileName}";

    /// <summary>(id, local path) of every image of the split, ascending id.</summary>
    public static async Task<List<(long Id, string Path)>> ReadAsync(InputArtifact data, string split, CancellationToken ct)
    {
        var list = await RecordsTable.ReadAllAsync<ImageFileRecord>(await data.GetPathAsync(List(split), ct), ct);
        var result = new List<(long, string)>(list.Count);
        foreach (var r in list.OrderBy(r => r.ImageId)) result.Add((r.ImageId, await data.GetPathAsync(Image(split, r.FileName), ct)));
        return result;
    }

    /// <summary>
    /// Rebuilds the split's <see cref="CocoCaptions"/> from its captions table (written image by image in file order), so
    /// <see cref="EvalCaptions.Choose"/> picks exactly what it picks from the annotation file.
    /// </summary>
    public static async Task<CocoCaptions> ReadCaptionsAsync(InputArtifact data, string split, CancellationToken ct)
    {
        var path = await data.GetPathAsync(Captions(split), ct);
        var rows = await CaptionsTable.ReadAllAsync(path, ct);
        var byImage = new Dictionary<long, List<CocoCaption>>();
        foreach (var r in rows)
            (byImage.TryGetValue(r.ImageId, out var l) ? l : byImage[r.ImageId] = []).Add(new CocoCaption(r.ImageId, r.CaptionId, r.Text));
        return new CocoCaptions
        {
            Source = path,
            Images = byImage.Keys.Order().Select(id => new CocoImage(id, "", null, 0, 0)).ToList(),
            CaptionsByImage = byImage.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<CocoCaption>)kv.Value),
            ImagesWithoutCaptions = [],
            CaptionsForMissingImages = [],
        };
    }
}
