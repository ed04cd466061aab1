using System.Text.RegularExpressions;
using Fusion.Reproduction.Report;
using Fusion.Tests.Support;
using SkiaSharp;
using Xunit.Abstractions;

namespace Fusion.Tests.Report;

/// <summary>
/// report.html: self-contained (images inlined, nothing fetched), and in a real browser (Debian's headless Chromium)
/// it loads without a single error and draws a page that is not blank. The screenshot is kept under the test output
/// folder (bin/…/test-output/report-html.png) for a person to look at.
/// </summary>
public sealed class HtmlReportTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    private static readonly string[] Variants = ["early-concat", "early-cross", "intermediate-concat", "intermediate-cross"];

    /// <summary>A report folder as ReportStage leaves it: charts (one with 95 % intervals), a sample grid, report.md.</summary>
    private string WriteReportFolder()
    {
        File.WriteAllBytes(_dir["fid.png"], Chart.Bars("FID (lower is better)", "FID",
            [(Variants[0], 110.1), (Variants[1], 110.2), (Variants[2], 109.0), (Variants[3], 109.0)],
            [(105.3, 114.8), (106.0, 114.1), (104.2, 113.5), (104.9, 113.2)]));
        File.WriteAllBytes(_dir["loss.png"], Chart.Line("Training loss (ε-prediction MSE)", "step", "loss",
            Variants.Select((v, i) => new Series(v, Enumerable.Range(0, 100).Select(s => (5.0 * s, 0.29 + 0.7 * Math.Exp(-s / (8.0 + i)))).ToList())).ToList(), logY: true));
        const int size = 8, columns = 3;
        string[] prompts = ["one red circle", "a yellow square to the right of two green circles and above a blue triangle that is next to a red square"];
        var pixels = new float[prompts.Length * columns * 3 * size * size];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (i * 37 % 101) / 100f;
        File.WriteAllBytes(_dir["grid-intermediate-cross.png"], SampleGrid.Png(pixels, size, size, prompts, columns, scale: 6,
            SampleGrid.Title("sample[intermediate-cross/seed=2]"), "noise seed 1234 · 3 draws per prompt (columns)"));
        File.WriteAllBytes(_dir["forest.png"], Chart.Forest("Claims against early-concat",
            [new ForestPanel("Higher CLIP Score", "Δ CLIP Score", 0, 1, [new ForestRow("intermediate-cross", 4.2, 2.1, 6.3, "supported"), new ForestRow("intermediate-concat", 0.1, -0.4, 0.6, "equivalent")]),
             new ForestPanel("Lower FID", "Δ FID", 0, 1, [new ForestRow("intermediate-cross", 1.5, -3, 6, "inconclusive")])]));
        return """
            # Intermediate vs early fusion

            Hu, Jia, Rostami — *An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion Models* (arXiv 2403.16530), reproduced by `fusion`.

            ## Claims

            | claim | measurement | verdict | rule |
            |---|---|---|---|
            | Higher CLIP Score (intermediate vs early fusion) | intermediate-concat vs early-concat: 9.20 vs 9.69 ✗; intermediate-cross vs early-cross: 9.19 vs 9.65 ✗ | **not supported** | intermediate > early in every measured pair |
            | Lower FID (intermediate vs early fusion) | 109.0 vs 110.1 ✓; 109.0 vs 110.2 ✓ | **supported** | intermediate < early in every measured pair |
            | ≈20 % fewer FLOPs | forward GMACs not measured | **not measured** | reduction ≥ 15 % in every measured pair |
            | ≈50 % faster training | +52.5 % and −1.0 %, 95 % intervals overlap | **inconclusive** | speed-up ≥ 37.5 % in every measured pair |
            | Higher alignment accuracy | +0.01 [−0.02, 0.03] | **equivalent** | inside ±0.05 |
            | Higher CLIP Score | 3.95 (1 seed) | **inconclusive (one seed: seed-to-seed spread unknown)** (n = 1) | over seeds |

            ![Claims at a glance](forest.png)

            ## Results

            | variant | parameters | forward GMACs | FID | alignment all |
            |---|---:|---:|---:|---:|
            | early-concat | 281,284 | 0.0260 | 110.1 | 0.0 % |
            | early-cross | 281,284 | 0.0216 | 110.2 | 0.0 % |
            | intermediate-concat | 331,076 | 0.0245 | 109.0 | 0.0 % |
            | intermediate-cross | 331,076 | 0.0219 | 109.0 | 0.0 % |

            ## Plots

            ![FID (lower is better)](fid.png)

            ![Training loss](loss.png)

            ## Samples (same prompts and seeds for every variant)

            ### intermediate-cross

            ![intermediate-cross](grid-intermediate-cross.png)

            Files: [results.csv](results.csv), [claims.csv](claims.csv).
            """;
    }

    [Fact]
    public void EveryImageIsInlinedAndVerdictsAreMarked()
    {
        var html = HtmlReport.Render(WriteReportFolder(), _dir.Path);
        var sources = Regex.Matches(html, "<img src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(4, sources.Count);
        Assert.All(sources, s => Assert.StartsWith("data:image/png;base64,", s));
        Assert.Equal(File.ReadAllBytes(_dir["forest.png"]), Convert.FromBase64String(sources[0]["data:image/png;base64,".Length..]));
        Assert.Equal(File.ReadAllBytes(_dir["fid.png"]), Convert.FromBase64String(sources[1]["data:image/png;base64,".Length..]));
        Assert.Contains("<title>Intermediate vs early fusion</title>", html);
        foreach (var v in new[] { "supported", "not-supported", "not-measured", "inconclusive", "equivalent" })
            Assert.Contains($"<td class=\"verdict verdict-{v}\">", html);
        // A verdict with its reason is still that verdict.
        Assert.Contains("<strong class=\"verdict verdict-inconclusive\">inconclusive (one seed: seed-to-seed spread unknown)</strong>", html);
        Assert.Contains("<td style=\"text-align: right;\">0.0245</td>", html);   // numeric columns are right-aligned
        Assert.Contains("<a href=\"results.csv\">", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html);
    }

    [Fact]
    public void MissingRemoteOrEscapingImagesAreErrors()
    {
        Assert.Throws<FileNotFoundException>(() => HtmlReport.Render("![x](missing.png)", _dir.Path));
        Assert.Contains("not a local file", Assert.Throws<ArgumentException>(() => HtmlReport.Render("![x](https://example.org/a.png)", _dir.Path)).Message);
        Assert.Contains("outside the report folder", Assert.Throws<ArgumentException>(() => HtmlReport.Render("![x](../a.png)", _dir.Path)).Message);
        Assert.Contains("&lt;script&gt;", HtmlReport.Render("a <script>alert(1)</script> b", _dir.Path));   // Markdown HTML is text
    }

    [Fact]
    public async Task OpensInHeadlessChromiumWithoutErrorsAndDrawsThePage()
    {
        var page = _dir["report.html"];
        await File.WriteAllTextAsync(page, HtmlReport.Render(WriteReportFolder(), _dir.Path));
        foreach (var png in Directory.GetFiles(_dir.Path, "*.png")) File.Delete(png);   // the page must not need them
        var visit = await HeadlessChromium.VisitAsync(page, 1200, 2000, TimeSpan.FromMinutes(2));

        var keep = Path.Combine(AppContext.BaseDirectory, "test-output", "report-html.png");
        Directory.CreateDirectory(Path.GetDirectoryName(keep)!);
        await File.WriteAllBytesAsync(keep, visit.Screenshot);
        output.WriteLine($"screenshot: {keep}");
        Assert.True(visit.Errors.Count == 0, "the page reported errors:\n" + string.Join("\n", visit.Errors));

        using var shot = SKBitmap.Decode(visit.Screenshot);
        Assert.Equal(1200, shot.Width);
        Assert.True(shot.Height >= 2000, $"screenshot {shot.Width}×{shot.Height}");
        var colours = new HashSet<uint>();
        long ink = 0, supportedGreen = 0;
        foreach (var c in shot.Pixels)
        {
            colours.Add((uint)c);
            if (c.Red < 200 || c.Green < 200 || c.Blue < 200) ink++;
            if (c == new SKColor(0xda, 0xfb, 0xe1)) supportedGreen++;   // the stylesheet's "supported" cell
        }
        output.WriteLine($"{colours.Count} colours, {100.0 * ink / shot.Pixels.Length:F1} % ink, {supportedGreen} verdict-green pixels");
        Assert.True(colours.Count > 200, $"only {colours.Count} colours: the charts and samples did not draw");
        Assert.True(ink > shot.Pixels.Length / 20, $"only {ink} dark pixels: the page is nearly blank");
        Assert.True(supportedGreen > 500, "no verdict colour: the stylesheet did not apply");
    }

    [Fact]
    public async Task TheForestPlotShowsInHeadlessChromium()
    {
        // The claims section with its forest plot and no other picture: its verdict colours can only come from it.
        WriteReportFolder();
        var page = _dir["forest.html"];
        await File.WriteAllTextAsync(page, HtmlReport.Render("## Claims\n\n![Claims at a glance](forest.png)\n", _dir.Path));
        var visit = await HeadlessChromium.VisitAsync(page, 900, 900, TimeSpan.FromMinutes(2));
        Assert.True(visit.Errors.Count == 0, "the page reported errors:\n" + string.Join("\n", visit.Errors));
        using var shot = SKBitmap.Decode(visit.Screenshot);
        var (green, blue, grey) = (0, 0, 0);
        foreach (var c in shot.Pixels)
        {
            if (Near(c, 0x2c, 0xa0, 0x2c)) green++;   // the supported row
            if (Near(c, 0x1f, 0x77, 0xb4)) blue++;    // the equivalent row
            if (Near(c, 0x7f, 0x7f, 0x7f)) grey++;    // the inconclusive row
        }
        output.WriteLine($"forest plot in the browser: {green} green, {blue} blue, {grey} grey pixels");
        Assert.True(green > 30 && blue > 30 && grey > 30, $"the forest plot did not show its verdicts ({green} green, {blue} blue, {grey} grey pixels)");
    }

    private static bool Near(SKColor c, int r, int g, int b) => Math.Abs(c.Red - r) <= 6 && Math.Abs(c.Green - g) <= 6 && Math.Abs(c.Blue - b) <= 6;

    [Fact]
    public async Task TheChromiumCheckCatchesABrokenPage()
    {
        var page = _dir["broken.html"];
        await File.WriteAllTextAsync(page, "<!DOCTYPE html><html><body><p>broken</p><img src=\"missing.png\"><script>notAFunction();</script></body></html>");
        var visit = await HeadlessChromium.VisitAsync(page, 800, 600, TimeSpan.FromMinutes(2));
        Assert.Contains(visit.Errors, e => e.Contains("notAFunction"));
        Assert.Contains(visit.Errors, e => e.Contains("missing.png") || e.Contains("ERR_FILE_NOT_FOUND"));
    }

    public void Dispose() => _dir.Dispose();
}
