using System.Security.Cryptography;
using System.Text;
using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Datasets.Download;
using Fusion.Tests.Support;
using Fusion.Models.Clip;

namespace Fusion.Tests.Datasets;

public sealed class CocoTests
{
    static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task Mini_coco_over_http_with_faults_is_downloaded_extracted_parsed_and_preprocessed()
    {
        using var src = new TempDir();
        using var work = new TempDir();
        var mini = MiniCoco.Create(src.Path);
        await using var server = new LocalHttpServer();
        server.Files["zips/val2014.zip"] = await File.ReadAllBytesAsync(mini.ImagesZip);
        server.Files["annotations/annotations_trainval2014.zip"] = await File.ReadAllBytesAsync(mini.AnnotationsZip);
        server.Faults = (path, n) => path.StartsWith("zips") && n == 0 ? new Fault.ResetAfter(1000) : path.StartsWith("annotations") && n == 0 ? new Fault.Status(503) : null;
        using var http = new HttpClient();
        var dl = new HttpDownloader(http, new DownloadOptions { InitialDelay = TimeSpan.FromMilliseconds(10) });
        var imgs = await dl.DownloadAsync(new DownloadSource(server.Url("zips/val2014.zip"), work["dl/val2014.zip"]) { Sha256 = Sha(mini.ImagesZip) });
        var ann = await dl.DownloadAsync(new DownloadSource(server.Url("annotations/annotations_trainval2014.zip"), work["dl/ann.zip"]) { Sha256 = Sha(mini.AnnotationsZip) });
        Assert.Equal(2, imgs.Attempts);
        Assert.Equal(2, ann.Attempts);

        var ex1 = SafeZip.Extract(imgs.Path, work["raw"]);
        var ex2 = SafeZip.Extract(ann.Path, work["raw"], name => name == Coco2014.ValCaptionsEntry);
        Assert.Empty(ex1.Refused);
        Assert.Equal([Coco2014.ValCaptionsEntry], ex2.Extracted);

        var captions = CocoCaptions.Load(work["raw/" + Coco2014.ValCaptionsEntry]);
        Assert.Equal(MiniCoco.ImageIds, captions.Images.Select(i => i.Id)); // ascending, though the file lists them reversed
        Assert.Equal([MiniCoco.UncaptionedId], captions.ImagesWithoutCaptions);
        Assert.Equal(MiniCoco.MissingImageId, Assert.Single(captions.CaptionsForMissingImages).ImageId);
        var problems = captions.Problems().ToList();
        Assert.Equal(2, problems.Count);
        Assert.Contains("without captions: 30", problems[0]);
        Assert.Contains("caption 1 → image 999", problems[1]);
        Assert.Equal(new long[] { 900, 901, 902, 903, 904, 905 }, captions.CaptionsOf(9).Select(c => c.Id));
        Assert.Equal("image 9 caption 0 ", captions.CaptionsOf(9)[0].Text);

        var skipped = new List<SkippedImage>();
        var done = CocoImagePreprocessing.PreprocessInOrder(
            captions.CaptionedImages.Select(i => (i.Id, work["raw/val2014/" + i.FileName])), skipped, parallelism: 2).ToList();
        Assert.Equal([9L, 42, 73, 74], done.Select(d => d.ImageId));
        var bad = Assert.Single(skipped);
        Assert.Equal(MiniCoco.CorruptId, bad.ImageId);
        Assert.False(string.IsNullOrEmpty(bad.Reason));
        Assert.All(done, d => Assert.Equal(3 * 256 * 256, d.Chw.Length));
        Assert.All(done, d => Assert.InRange(d.Chw.Min(), -1f, 1f));
        Assert.All(done, d => Assert.InRange(d.Chw.Max(), -1f, 1f));
        // grayscale became RGB: three equal planes
        var gray = done.Single(d => d.ImageId == 42).Chw;
        Assert.Equal(gray.AsSpan(0, 65536).ToArray(), gray.AsSpan(65536, 65536).ToArray());
        Assert.Equal(gray.AsSpan(0, 65536).ToArray(), gray.AsSpan(131072, 65536).ToArray());
        Assert.Equal("COCO 2014 val: 4 images, expected 5 (the subset)", Coco2014.CheckCount("val", done.Count, subsetSize: 5));
        Assert.Null(Coco2014.CheckCount("val", 40_504));
        Assert.Contains("expected 82783", Coco2014.CheckCount("train", 82_782));

        await CaptionsTable.WriteAsync(work["captions.parquet"], captions.Rows());
        var rows = await CaptionsTable.ReadAllAsync(work["captions.parquet"]);
        Assert.Equal(captions.CaptionCount, rows.Count);
        Assert.Equal(rows.OrderBy(r => r.ImageId).ThenBy(r => r.CaptionId), rows);
    }

    [Fact]
    public void Malformed_json_is_an_error_with_its_position()
    {
        var json = "{\n  \"images\": [\n    {\"id\": 1, \"file_name\": \"a.jpg\",, }\n  ]\n}";
        var e = Assert.Throws<CocoFormatException>(() => CocoCaptions.Parse(new MemoryStream(Encoding.UTF8.GetBytes(json)), "captions_val2014.json"));
        Assert.StartsWith("captions_val2014.json: malformed JSON at line 3, byte", e.Message);
        var missing = Assert.Throws<CocoFormatException>(() => CocoCaptions.Parse(
            new MemoryStream(Encoding.UTF8.GetBytes("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[{\"image_id\":1,\"id\":2}]}")), "c.json"));
        Assert.Equal("c.json: annotations[0]: 'caption' is missing or not a string", missing.Message);
        var noImages = Assert.Throws<CocoFormatException>(() => CocoCaptions.Parse(new MemoryStream("{}"u8.ToArray()), "c.json"));
        Assert.Contains("'images' array is missing", noImages.Message);
    }

    [Fact]
    public void Centre_crop_keeps_the_middle_square_like_the_reference()
    {
        // 10×5: c = 5, columns [(10−5)//2, (10+5)//2) = [2, 7); the odd slack pixel is dropped at the end.
        var img = Rgb(10, 5, (x, y) => ((byte)(x * 20), (byte)(y * 40), 7));
        var crop = CocoImagePreprocessing.CenterCropResize(img, 5);
        Assert.Equal((5, 5), (crop.Width, crop.Height));
        for (var x = 0; x < 5; x++) Assert.Equal((byte)((x + 2) * 20), crop.Pixels[3 * x]);
        var chw = CocoImagePreprocessing.ToChw(crop);
        Assert.Equal(40 / 127.5f - 1f, chw[0]);
        Assert.Equal(40 / 127.5f - 1f, chw[25 + 5]);     // G plane, row 1
        Assert.Equal(7 / 127.5f - 1f, chw[50]);

        // portrait 5×9: rows [2, 7)
        var tall = CocoImagePreprocessing.CenterCropResize(Rgb(5, 9, (_, y) => (0, (byte)(y * 20), 0)), 5);
        Assert.Equal(40, tall.Pixels[1]);
        Assert.Equal(120, tall.Pixels[3 * 5 * 4 + 1]);
    }

    [Fact]
    public void Lanczos_resize_of_a_flat_image_stays_flat_and_a_large_image_shrinks_to_256()
    {
        var flat = CocoImagePreprocessing.CenterCropResize(Rgb(640, 480, (_, _) => (200, 100, 50)));
        Assert.Equal((256, 256), (flat.Width, flat.Height));
        Assert.Equal(new byte[] { 200, 100, 50 }, flat.Pixels[((200 * 256 + 17) * 3)..((200 * 256 + 17) * 3 + 3)]);
    }

    [Fact]
    public void Files_that_are_not_images_are_reported_as_undecodable()
    {
        Assert.Throws<NotSupportedException>(() => CocoImagePreprocessing.OpenRgb("GIF89a"u8.ToArray()));
        var truncated = Assert.Throws<InvalidDataException>(() => CocoImagePreprocessing.OpenRgb([0xFF, 0xD8, 0xFF]));
        Assert.True(CocoImagePreprocessing.IsUndecodable(truncated));
    }

    private static PilImage Rgb(int w, int h, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        var hwc = new byte[w * h * 3];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                (hwc[(y * w + x) * 3], hwc[(y * w + x) * 3 + 1], hwc[(y * w + x) * 3 + 2]) = pixel(x, y);
        return PilImage.Rgb(w, h, hwc);
    }

    [Fact]
    public void Eval_captions_are_the_first_val_images_with_a_seeded_caption_each()
    {
        using var dir = new TempDir();
        var captions = CocoCaptions.Load(MiniCoco.Create(dir.Path).CaptionsJson);
        var a = EvalCaptions.Choose(captions, 4, seed: 1234);
        Assert.Equal([9L, 25, 42, 73], a.Select(e => e.ImageId));
        Assert.Equal([0, 1, 2, 3], a.Select(e => e.Index));
        Assert.All(a, e => Assert.Equal(captions.CaptionsOf(e.ImageId)[e.CaptionIndex].Id, e.CaptionId));
        Assert.Equal(a, EvalCaptions.Choose(captions, 4, seed: 1234));
        var seeds = Enumerable.Range(0, 20).Select(s => string.Join(",", EvalCaptions.Choose(captions, 4, s).Select(e => e.CaptionIndex))).Distinct().Count();
        Assert.True(seeds > 5, "the seed must change the choice");
        Assert.Throws<ArgumentException>(() => EvalCaptions.Choose(captions, 6, 0));
    }

    [Fact]
    public async Task Eval_caption_list_records_its_seed()
    {
        using var dir = new TempDir();
        var captions = CocoCaptions.Load(MiniCoco.Create(dir.Path).CaptionsJson);
        var list = EvalCaptions.Choose(captions, 3, seed: 77);
        await EvalCaptions.WriteAsync(dir["eval.parquet"], list, 77);
        Assert.Equal("77", (await ParquetTable.ReadMetadataAsync(dir["eval.parquet"]))[EvalCaptions.SeedKey]);
        Assert.Equal(list.Select(e => e.CaptionId), (await CaptionsTable.ReadAllAsync(dir["eval.parquet"])).Select(r => r.CaptionId));
    }

    [Fact]
    public async Task Subset_is_fetched_per_image_from_coco_url_and_failures_are_reported()
    {
        using var dir = new TempDir();
        await using var server = new LocalHttpServer();
        var mini = MiniCoco.Create(dir["src"], id => server.Url("val2014/" + MiniCoco.FileName(id)).ToString());
        foreach (var (id, p) in mini.JpegPaths)
            if (id != 73) server.Files["val2014/" + MiniCoco.FileName(id)] = await File.ReadAllBytesAsync(p); // 73 is missing on the server
        server.Faults = (_, n) => n == 0 ? new Fault.Status(503) : null;
        var captions = CocoCaptions.Load(mini.CaptionsJson);
        var first = CocoSubset.First(captions, 4);
        using var http = new HttpClient();
        var dl = new HttpDownloader(http, new DownloadOptions { InitialDelay = TimeSpan.FromMilliseconds(5) });
        var report = await CocoSubset.DownloadAsync(dl, first, dir["subset"], parallelism: 2);
        Assert.Equal([9L, 25, 42], report.Downloaded.Select(i => i.Id));
        var failed = Assert.Single(report.Failed);
        Assert.Equal(73, failed.Image.Id);
        Assert.Contains("404", failed.Reason);
        Assert.Equal(await File.ReadAllBytesAsync(mini.JpegPaths[9]), await File.ReadAllBytesAsync(dir["subset/" + MiniCoco.FileName(9)]));
    }

    [Theory]
    [InlineData("COCO_val2014_000000000042.jpg", null)]
    [InlineData("a b..c.jpg", null)]
    [InlineData("", "it is empty")]
    [InlineData(".", "it names a folder")]
    [InlineData("..", "it names a folder")]
    [InlineData("/etc/passwd", "it is an absolute path")]
    [InlineData("../../outside.jpg", "it has a directory separator")]
    [InlineData("sub/dir.jpg", "it has a directory separator")]
    [InlineData("sub\\dir.jpg", "it has a directory separator")]
    [InlineData("a<NUL>b.jpg", "it has a control character")]
    [InlineData("a<LF>b.jpg", "it has a control character")]
    public void Only_plain_file_names_resolve_and_only_inside_their_folder(string name, string? why)
    {
        name = name.Replace("<NUL>", "\0").Replace("<LF>", "\n"); // spelled out: test names must stay printable
        using var dir = new TempDir();
        Assert.Equal(why, PlainFileName.Problem(name)?.Split(": ", 2)[1]);
        if (why is null) Assert.Equal(Path.Combine(dir.Path, name), PlainFileName.In(dir.Path + "/", name));
        else
        {
            var e = Assert.Throws<InvalidDataException>(() => PlainFileName.In(dir.Path, name));
            Assert.DoesNotContain('\0', e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void Images_are_fetched_over_https_from_the_official_host_and_only_over_http_s()
    {
        Assert.All(new[] { Coco2014.TrainZip, Coco2014.ValZip, Coco2014.AnnotationsZip }, u => Assert.Equal("https", u.Scheme));
        Assert.Equal("https://images.cocodataset.org/val2014/x.jpg", Coco2014.ImageUrl("http://images.cocodataset.org/val2014/x.jpg").ToString());
        Assert.Equal("http://127.0.0.1:8080/x.jpg", Coco2014.ImageUrl("http://127.0.0.1:8080/x.jpg").ToString());
        Assert.Throws<UriFormatException>(() => Coco2014.ImageUrl("file:///etc/passwd"));
    }
}
