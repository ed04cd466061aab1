using Fusion.Datasets.Download;

namespace Fusion.Datasets.Coco;

public sealed record SubsetDownloadReport(IReadOnlyList<CocoImage> Downloaded, IReadOnlyList<(CocoImage Image, string Reason)> Failed);

/// <summary>
/// Small profiles: fetch only the images needed, one by one from their official <c>coco_url</c>, into
/// <c>directory/file_name</c> (resumable, retried). A failed image is reported, not fatal; so is a <c>file_name</c> that
/// is not a plain file name (<see cref="PlainFileName"/>), which is never fetched.
/// </summary>
public static class CocoSubset
{
    /// <summary>The first <paramref name="count"/> captioned images in ascending-id order.</summary>
    public static IReadOnlyList<CocoImage> First(CocoCaptions captions, int count) => captions.CaptionedImages.Take(count).ToList();

    public static async Task<SubsetDownloadReport> DownloadAsync(HttpDownloader downloader, IReadOnlyList<CocoImage> images, string directory,
        int parallelism = 8, IProgress<int>? imagesDone = null, CancellationToken ct = default)
    {
        Directory.CreateDirectory(directory);
        var ok = new CocoImage?[images.Count];
        var failed = new List<(CocoImage, string)>();
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, images.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct },
            async (i, token) =>
            {
                var img = images[i];
                try
                {
                    // Checked before any request: a name that is not plain is never fetched or written.
                    if (PlainFileName.Problem(img.FileName) is { } why) throw new DownloadException(why);
                    if (img.CocoUrl is null) throw new DownloadException($"image {img.Id} ({PlainFileName.Show(img.FileName)}) has no coco_url");
                    await downloader.DownloadAsync(new DownloadSource(Coco2014.ImageUrl(img.CocoUrl), PlainFileName.In(directory, img.FileName)), null, token);
                    ok[i] = img;
                }
                catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or UriFormatException)
                {
                    lock (failed) failed.Add((img, e.Message));
                }
                imagesDone?.Report(Interlocked.Increment(ref done));
            });
        return new SubsetDownloadReport(ok.OfType<CocoImage>().ToList(), failed.OrderBy(f => f.Item1.Id).ToList());
    }
}
