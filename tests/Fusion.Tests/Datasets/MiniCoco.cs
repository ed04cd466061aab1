using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace Fusion.Tests.Datasets;

/// <summary>
/// A generated mini-COCO in the real formats: JPEGs (colour, portrait, grayscale, one corrupt), a captions JSON with
/// an image that has no captions and a caption for a missing image, and the zips the official site serves.
/// </summary>
public sealed class MiniCoco
{
    public const long CorruptId = 25, UncaptionedId = 30, MissingImageId = 999;
    public static readonly long[] ImageIds = [9, 25, 30, 42, 73, 74];

    public required string ImagesZip { get; init; }
    public required string AnnotationsZip { get; init; }
    public required string CaptionsJson { get; init; }
    public required Dictionary<long, string> JpegPaths { get; init; }

    public static string FileName(long id) => $"COCO_val2014_{id:D12}.jpg";

    public static MiniCoco Create(string dir, Func<long, string>? cocoUrl = null)
    {
        Directory.CreateDirectory(Path.Combine(dir, "val2014"));
        var paths = new Dictionary<long, string>();
        foreach (var id in ImageIds)
        {
            var path = Path.Combine(dir, "val2014", FileName(id));
            if (id == CorruptId)
            {
                var junk = new byte[2000]; new Random(7).NextBytes(junk);
                junk[0] = 0xFF; junk[1] = 0xD8; junk[2] = 0xFF; // a JPEG start marker, then garbage
                File.WriteAllBytes(path, junk);
            }
            else if (id == 42)
            {
                using var gray = new Image<L8>(120, 90);
                for (var y = 0; y < 90; y++) for (var x = 0; x < 120; x++) gray[x, y] = new L8((byte)(x * 2));
                gray.Save(path, new JpegEncoder { Quality = 90, ColorType = JpegColorType.Luminance });
            }
            else
            {
                var (w, h) = id == 73 ? (60, 100) : (100, 60);
                using var img = new Image<Rgb24>(w, h);
                for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) img[x, y] = new Rgb24((byte)(x * 2), (byte)(y * 2), (byte)id);
                img.SaveAsJpeg(path, new JpegEncoder { Quality = 90 });
            }
            paths[id] = path;
        }
        var images = ImageIds.Reverse().Select(id => new { id, file_name = FileName(id), coco_url = cocoUrl?.Invoke(id) ?? $"http://images.cocodataset.org/val2014/{FileName(id)}", width = 100, height = 60 });
        var annotations = ImageIds.Where(id => id != UncaptionedId).SelectMany(id => Enumerable.Range(0, 5 + (int)(id % 2)).Select(k => new { image_id = id, id = id * 100 + k, caption = $"image {id} caption {k} " }))
                                  .Append(new { image_id = MissingImageId, id = 1L, caption = "a caption of an image that is not listed" });
        var json = Path.Combine(dir, "captions_val2014.json");
        File.WriteAllText(json, JsonSerializer.Serialize(new { info = new { year = 2014 }, images, annotations }));
        var imagesZip = Path.Combine(dir, "val2014.zip");
        using (var zip = ZipFile.Open(imagesZip, ZipArchiveMode.Create))
            foreach (var (id, p) in paths) zip.CreateEntryFromFile(p, "val2014/" + FileName(id));
        var annZip = Path.Combine(dir, "annotations_trainval2014.zip");
        using (var zip = ZipFile.Open(annZip, ZipArchiveMode.Create))
            zip.CreateEntryFromFile(json, "annotations/captions_val2014.json");
        return new MiniCoco { ImagesZip = imagesZip, AnnotationsZip = annZip, CaptionsJson = json, JpegPaths = paths };
    }

    /// <summary>
    /// Serves this mini-COCO the way the <c>coco-download</c> stage fetches it: every JPEG at <c>images/NAME</c> (the
    /// <c>coco_url</c> given to <see cref="Create"/>) and <c>annotations_trainval2014.zip</c>, whose train and val caption
    /// files are both this captions JSON (the same entries the official zip has).
    /// </summary>
    public void Serve(LocalHttpServer server)
    {
        foreach (var (id, path) in JpegPaths) server.Files["images/" + FileName(id)] = File.ReadAllBytes(path);
        var bytes = new MemoryStream();
        using (var zip = new ZipArchive(bytes, ZipArchiveMode.Create, leaveOpen: true))
        {
            zip.CreateEntryFromFile(CaptionsJson, Fusion.Datasets.Coco.Coco2014.TrainCaptionsEntry);
            zip.CreateEntryFromFile(CaptionsJson, Fusion.Datasets.Coco.Coco2014.ValCaptionsEntry);
        }
        server.Files["annotations_trainval2014.zip"] = bytes.ToArray();
    }

    /// <summary>
    /// Adds captioned images to the captions JSON, each with the given <c>file_name</c> and <c>coco_url</c> (hostile
    /// input: names that are not plain file names). Call <see cref="Serve"/> afterwards to serve the new file.
    /// </summary>
    public void AddImages(IEnumerable<(long Id, string FileName, string CocoUrl)> extra)
    {
        var root = JsonNode.Parse(File.ReadAllText(CaptionsJson))!.AsObject();
        foreach (var (id, name, url) in extra)
        {
            root["images"]!.AsArray().Add(new JsonObject { ["id"] = id, ["file_name"] = name, ["coco_url"] = url, ["width"] = 100, ["height"] = 60 });
            root["annotations"]!.AsArray().Add(new JsonObject { ["image_id"] = id, ["id"] = id * 100, ["caption"] = $"image {id}" });
        }
        File.WriteAllText(CaptionsJson, root.ToJsonString());
    }

    /// <summary>
    /// Serves the image zips the whole-split ingest reads, <c>train2014.zip</c> and <c>val2014.zip</c>: every JPEG under
    /// <c>{split}2014/</c>, plus <paramref name="extra"/> entries (a path below that folder, and their bytes).
    /// </summary>
    public void ServeImageZips(LocalHttpServer server, params (string Entry, byte[] Bytes)[] extra)
    {
        foreach (var folder in new[] { "train2014", "val2014" })
        {
            var bytes = new MemoryStream();
            using (var zip = new ZipArchive(bytes, ZipArchiveMode.Create, leaveOpen: true))
            {
                foreach (var (id, path) in JpegPaths) zip.CreateEntryFromFile(path, $"{folder}/{FileName(id)}");
                foreach (var (entry, content) in extra)
                {
                    using var stream = zip.CreateEntry($"{folder}/{entry}").Open();
                    stream.Write(content);
                }
            }
            server.Files[folder + ".zip"] = bytes.ToArray();
        }
    }
}
