namespace Fusion.Datasets.Coco;

/// <summary>MS-COCO 2014 facts the pipeline checks against (U-ViT's dataset classes assert the same counts).</summary>
public static class Coco2014
{
    public const int TrainImages = 82_783;
    public const int ValImages = 40_504;
    private const string Host = "images.cocodataset.org";
    public static readonly Uri TrainZip = new($"https://{Host}/zips/train2014.zip");
    public static readonly Uri ValZip = new($"https://{Host}/zips/val2014.zip");
    public static readonly Uri AnnotationsZip = new($"https://{Host}/annotations/annotations_trainval2014.zip");

    /// <summary>
    /// Where to fetch an image given its <c>coco_url</c>: only http(s) URLs are fetched, and the official host's plain
    /// <c>http://</c> (what the captions files list) is fetched over https, which it serves too.
    /// </summary>
    public static Uri ImageUrl(string cocoUrl)
    {
        var uri = new Uri(cocoUrl, UriKind.Absolute);
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) throw new UriFormatException($"coco_url '{cocoUrl}' is not an http(s) URL");
        return uri.Scheme == Uri.UriSchemeHttp && uri.IsDefaultPort && uri.IdnHost.Equals(Host, StringComparison.OrdinalIgnoreCase)
            ? new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps, Port = -1 }.Uri
            : uri;
    }

    public const string TrainCaptionsEntry = "annotations/captions_train2014.json";
    public const string ValCaptionsEntry = "annotations/captions_val2014.json";

    public static int ExpectedImages(string split) => split switch
    {
        "train" or "train2014" => TrainImages,
        "val" or "val2014" => ValImages,
        _ => throw new ArgumentException($"unknown COCO 2014 split '{split}' (train or val)"),
    };

    /// <summary>Null when <paramref name="actual"/> is the split's full count (or the subset's size); else the discrepancy.</summary>
    public static string? CheckCount(string split, int actual, int? subsetSize = null)
    {
        var want = subsetSize ?? ExpectedImages(split);
        return actual == want ? null
            : $"COCO 2014 {split}: {actual} images, expected {want}" + (subsetSize is null ? " (the full split)" : " (the subset)");
    }
}
