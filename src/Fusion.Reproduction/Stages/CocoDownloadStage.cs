using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Datasets.Download;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Stages;

public sealed class CocoDownloadParams
{
    /// <summary>Train images to fetch one by one by <c>coco_url</c> (the first N captioned, ascending id); 0 = the whole split from its zip.</summary>
    [ParamRange(Min = 0)]
    public int TrainSubset { get; set; }
    /// <summary>Val images likewise; 0 = the whole split.</summary>
    [ParamRange(Min = 0)]
    public int ValSubset { get; set; }
    public string AnnotationsUrl { get; set; } = Coco2014.AnnotationsZip.ToString();
    public string TrainZipUrl { get; set; } = Coco2014.TrainZip.ToString();
    public string ValZipUrl { get; set; } = Coco2014.ValZip.ToString();
    /// <summary>Offline machines: a folder holding annotations_trainval2014.zip (and train2014.zip / val2014.zip for full splits).</summary>
    public string? LocalPath { get; set; }
    [ParamRange(Min = 1)]
    public int Parallelism { get; set; } = 8;
}

/// <summary>
/// MS-COCO 2014 captions and images: the annotations zip (extracted with <see cref="SafeZip"/>, captions parsed with
/// <see cref="CocoCaptions"/>), then either the image zips or, for small profiles, the first N captioned images of each
/// split fetched by <c>coco_url</c>. Writes per split <c>captions.parquet</c> (captions of the images present, image by
/// image in file order), <c>image_files.parquet</c> and <c>images/</c>; every problem (refused zip entries, failed
/// downloads, captions without images, a <c>file_name</c> that is not a plain file name, count mismatches) goes to
/// <c>problems.txt</c>, the log and the summary. Only plain file names (<see cref="PlainFileName"/>) are fetched, read,
/// moved or listed, so the captions file cannot reach anything outside the stage's folders.
/// Downloads live in scratch, so an interrupted node resumes them.
/// </summary>
[UsesPackages("Parquet.Net")]
public sealed class CocoDownloadStage : StageKind<CocoDownloadParams>
{
    public override string Name => "coco-download";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["train/", "val/", "problems.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, CocoDownloadParams p)
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var download = new Download(context, p, http);
        var annotations = Path.Combine(context.ScratchDirectory, "annotations");
        download.Extract(await download.FetchAsync(p.AnnotationsUrl), annotations, n => n is Coco2014.TrainCaptionsEntry or Coco2014.ValCaptionsEntry);
        foreach (var (split, entry, subset, zipUrl) in new[] { ("train", Coco2014.TrainCaptionsEntry, p.TrainSubset, p.TrainZipUrl), ("val", Coco2014.ValCaptionsEntry, p.ValSubset, p.ValZipUrl) })
            await download.SplitAsync(split, Path.Combine(annotations, entry), entry, subset, zipUrl);
        var problems = download.Problems;
        foreach (var problem in problems) context.Logger.LogWarning("coco-download: {Problem}", problem);
        await File.WriteAllLinesAsync(context.OutputPath("problems.txt"), problems, context.CancellationToken);
        context.Summary["problems"] = problems.Count.ToString();
    }

    /// <summary>One node's downloads: files fetched into scratch (or taken from the local folder), zips extracted, problems collected.</summary>
    private sealed class Download
    {
        private readonly StageContext context;
        private readonly CocoDownloadParams p;
        private readonly HttpDownloader downloader;
        private readonly CancellationToken ct;

        public Download(StageContext context, CocoDownloadParams p, HttpClient http)
        {
            (this.context, this.p, ct) = (context, p, context.CancellationToken);
            downloader = new HttpDownloader(http, new DownloadOptions
            {
                OnRetry = (attempt, delay, e) => context.Logger.LogWarning("coco-download: retry {Attempt} in {Delay}: {Error}", attempt, delay, e?.Message),
            });
        }

        public List<string> Problems { get; } = [];

        public async Task<string> FetchAsync(string url)
        {
            var name = Path.GetFileName(new Uri(url).LocalPath);
            var local = p.LocalPath is { } lp ? Path.Combine(lp, name) : null;
            var progress = new Progress<DownloadProgress>(d => context.Progress.Report(d.Bytes, d.Total ?? Math.Max(d.Bytes, 1), "byte"));
            var r = await downloader.DownloadAsync(new DownloadSource(new Uri(url), Path.Combine(context.ScratchDirectory, "downloads", name)) { LocalPath = local }, progress, ct);
            context.Logger.LogInformation("coco-download: {Name} {Size} bytes, sha256 {Sha}", name, r.Size, r.Sha256);
            return r.Path;
        }

        public ZipExtractionReport Extract(string zip, string target, Func<string, bool>? include = null)
        {
            var report = SafeZip.Extract(zip, target, include, ct);
            Problems.AddRange(report.Refused.Select(r => $"{Path.GetFileName(zip)}: refused entry '{r.Name}': {r.Reason}"));
            return report;
        }

        /// <summary>A split's images (a subset by URL, or the whole zip) with their captions and file list.</summary>
        public async Task SplitAsync(string split, string json, string entry, int subset, string zipUrl)
        {
            if (!File.Exists(json)) throw new InvalidDataException($"coco-download: the annotations zip {p.AnnotationsUrl} has no '{entry}'");
            var captions = CocoCaptions.Load(json);
            Problems.AddRange(captions.Problems());
            var imagesDir = Path.Combine(context.OutputDirectory, split, "images");
            Directory.CreateDirectory(imagesDir);
            var present = subset > 0 ? await SubsetAsync(split, captions, subset, imagesDir) : await WholeSplitAsync(split, captions, zipUrl, imagesDir);
            if (Coco2014.CheckCount(split, present.Count, subset > 0 ? subset : null) is { } mismatch) Problems.Add(mismatch);

            var ids = present.Select(i => i.Id).ToHashSet();
            var rows = captions.Rows().Where(r => ids.Contains(r.ImageId)).ToList();
            await CaptionsTable.WriteAsync(context.OutputPath(CocoImageFiles.Captions(split)), rows,
                new Dictionary<string, string> { ["source"] = entry, ["subset"] = subset.ToString() }, ct: ct);
            await RecordsTable.WriteAsync(context.OutputPath(CocoImageFiles.List(split)),
                present.OrderBy(i => i.Id).Select(i => new ImageFileRecord { ImageId = i.Id, FileName = i.FileName }), ct: ct);
            context.Summary[$"{split}_images"] = present.Count.ToString();
            context.Summary[$"{split}_captions"] = rows.Count.ToString();
        }

        /// <summary>The first <paramref name="subset"/> captioned images, fetched one by one by URL.</summary>
        private async Task<IReadOnlyList<CocoImage>> SubsetAsync(string split, CocoCaptions captions, int subset, string imagesDir)
        {
            var wanted = CocoSubset.First(captions, subset);
            if (wanted.Count < subset) Problems.Add($"{split}: asked for {subset} images, only {wanted.Count} have captions");
            var cache = Path.Combine(context.ScratchDirectory, split + "-images");
            var report = await CocoSubset.DownloadAsync(downloader, wanted, cache, p.Parallelism, new Progress<int>(n => context.Progress.Report(n, wanted.Count, "image")), ct);
            Problems.AddRange(report.Failed.Select(f => $"{split}: image {f.Image.Id} ({PlainFileName.Show(f.Image.FileName)}) not downloaded: {f.Reason}"));
            foreach (var img in report.Downloaded) File.Copy(PlainFileName.In(cache, img.FileName), PlainFileName.In(imagesDir, img.FileName));
            return report.Downloaded;
        }

        /// <summary>Every captioned image of the split's zip.</summary>
        private async Task<IReadOnlyList<CocoImage>> WholeSplitAsync(string split, CocoCaptions captions, string zipUrl, string imagesDir)
        {
            // Only plain names are looked for: any other file_name could reach files outside the extraction folder.
            var wanted = new List<CocoImage>();
            foreach (var img in captions.CaptionedImages)
                if (PlainFileName.Problem(img.FileName) is { } why) Problems.Add($"{split}: image {img.Id} skipped: {why}");
                else wanted.Add(img);
            var names = wanted.Select(i => i.FileName).ToHashSet(StringComparer.Ordinal);
            var folder = split + "2014/";
            var extracted = Path.Combine(context.ScratchDirectory, split + "-zip");
            Extract(await FetchAsync(zipUrl), extracted, n => n.StartsWith(folder, StringComparison.Ordinal) && names.Contains(n[folder.Length..]));
            var list = new List<CocoImage>();
            foreach (var img in wanted)
            {
                var file = PlainFileName.In(Path.Combine(extracted, folder), img.FileName);
                if (File.Exists(file)) { File.Move(file, PlainFileName.In(imagesDir, img.FileName)); list.Add(img); }
                else Problems.Add($"{split}: image {img.Id} ({img.FileName}) is not in {Path.GetFileName(zipUrl)}");
            }
            return list;
        }
    }
}
