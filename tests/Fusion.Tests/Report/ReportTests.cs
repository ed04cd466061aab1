using Fusion.Reproduction.Report;
using Fusion.Reproduction.Statistics;
using SkiaSharp;

namespace Fusion.Tests.Report;

public class ReportTests
{
    private static readonly ClaimTest Higher = new("d", 0, Higher: true, Inclusive: false, "0");
    private static readonly ClaimTest AtLeast = new("r", 1.375, Higher: true, Inclusive: true, "1.375");
    private static readonly ClaimTest Lower = new("d", 0, Higher: false, Inclusive: false, "0");

    [Fact]
    public void A_verdict_is_supported_only_when_the_whole_interval_is_beyond_the_threshold()
    {
        Interval I(double lo, double hi) => new((lo + hi) / 2, lo, hi, 3, "t");
        Assert.Equal(Verdict.Supported, Higher.Judge(I(0.1, 2)));
        Assert.Equal(Verdict.Inconclusive, Higher.Judge(I(-0.1, 2)));
        Assert.Equal(Verdict.NotSupported, Higher.Judge(I(-2, 0)));         // at the threshold is not "higher"
        Assert.Equal(Verdict.Supported, Lower.Judge(I(-3, -0.5)));
        Assert.Equal(Verdict.Inconclusive, Lower.Judge(I(-3, 0.5)));
        Assert.Equal(Verdict.NotSupported, Lower.Judge(I(0.2, 3)));
        Assert.Equal(Verdict.Supported, AtLeast.Judge(I(1.375, 1.6)));      // "at least": the threshold itself counts
        Assert.Equal(Verdict.NotSupported, AtLeast.Judge(I(0.9, 1.3)));
        Assert.Equal(Verdict.Inconclusive, AtLeast.Judge(I(1.2, 1.5)));
        Assert.Equal(Verdict.Inconclusive, Higher.Judge(Interval.Point(5, 1, "1 seed, no interval")));   // no spread known
        Assert.Equal(Verdict.Supported, AtLeast.Judge(Interval.Point(1.4, 1, "exact"), exact: true));
        Assert.Equal(Verdict.NotSupported, AtLeast.Judge(Interval.Point(1.3, 1, "exact"), exact: true));
        Assert.Equal(Verdict.NotMeasured, Higher.Judge(null));
        Assert.Contains("inconclusive otherwise", Higher.Rule(false));
        Assert.Equal(Verdict.NotSupported, Claims.Combine([Verdict.Supported, Verdict.NotSupported, Verdict.Inconclusive]));
        Assert.Equal(Verdict.Inconclusive, Claims.Combine([Verdict.Supported, Verdict.Inconclusive]));
    }

    private static RunResult Run(string variant, long seed, double clip, double fid) =>
        new(variant, seed, new Dictionary<string, double> { ["clip_score"] = clip, ["fid"] = fid });

    private static IReadOnlyDictionary<string, double> Macs(double g) => new Dictionary<string, double> { ["forward_gmacs"] = g };

    [Fact]
    public void Claims_are_judged_against_early_concat_with_paired_seed_intervals_and_a_within_method_breakdown()
    {
        // CLIP: intermediate-cross beats early-concat by 1.0 ± 0.1 in every seed; FID: differences −2, +1, −0.5 straddle 0.
        var runs = new List<RunResult>();
        foreach (var (seed, k) in new[] { (1L, 0.0), (2L, 0.1), (3L, -0.1) })
        {
            runs.Add(Run("early-concat", seed, 20 + 3 * k, 100 + 5 * k));
            runs.Add(Run("early-cross", seed, 21, 100));
            runs.Add(Run("intermediate-cross", seed, 21 + 3 * k + k, 100 + 5 * k + (seed == 1 ? -2 : seed == 2 ? 1 : -0.5)));
            runs.Add(Run("intermediate-concat", seed, 19, 100));
        }
        var timing = new TimingRounds(
            new Dictionary<string, double[]>
            {
                ["early-concat"] = [1, 2, 1, 2, 1, 2], ["intermediate-cross"] = [1.6, 3.2, 1.5, 3.4, 1.6, 3.0],   // loaded rounds slow both
                ["intermediate-concat"] = [1.1, 2.1, 1.0, 2.2, 1.05, 2.0], ["early-cross"] = [1, 2, 1, 2, 1, 2],
            }, new Dictionary<string, double[]>(), "test machine");
        var study = new StudyResults(runs, new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            ["early-concat"] = Macs(16.23), ["early-cross"] = Macs(15.0), ["intermediate-cross"] = Macs(13.40), ["intermediate-concat"] = Macs(15.12),
        }, timing);
        var rows = Claims.Evaluate(study);
        ClaimRow Row(string claim, string intermediate, bool headline = true) =>
            rows.Single(r => r.Claim.StartsWith(claim, StringComparison.Ordinal) && r.Headline == headline && (!headline || r.Comparison.StartsWith(intermediate + " vs early-concat", StringComparison.Ordinal)));

        var clip = Row("Higher CLIP", "intermediate-cross");
        Assert.Equal(Verdict.Supported, clip.Verdict);
        Assert.Equal(3, clip.Interval!.N);
        Assert.Contains("paired by seed, mean, t-interval over 3 seeds", clip.Measurement);
        Assert.Contains("(the paper's model)", clip.Comparison);
        Assert.Equal(Verdict.NotSupported, Row("Higher CLIP", "intermediate-concat").Verdict);   // 19 vs ≈20 in every seed
        Assert.Equal(Verdict.Inconclusive, Row("Lower FID", "intermediate-cross").Verdict);
        Assert.Equal(Verdict.Supported, Row("≈20 % fewer", "intermediate-cross").Verdict);        // 17.4 %
        Assert.Contains("17.4 %", Row("≈20 % fewer", "intermediate-cross").Measurement);
        Assert.Equal(Verdict.NotSupported, Row("≈20 % fewer", "intermediate-concat").Verdict);    // 6.8 %
        var speed = Row("≈50 % faster", "intermediate-cross");
        Assert.Equal(Verdict.Supported, speed.Verdict);                                          // ratios 1.5–1.7 in every round
        Assert.Equal(6, speed.Interval!.N);
        Assert.Equal(Verdict.NotSupported, Row("≈50 % faster", "intermediate-concat").Verdict);
        // The breakdown asks the old question: both within-method pairs must hold.
        var breakdown = Row("Higher CLIP", "", headline: false);
        Assert.Equal(Verdict.NotSupported, breakdown.Verdict);
        Assert.Contains("intermediate-cross vs early-cross", breakdown.Measurement);
        Assert.Equal(8 + 4, rows.Count);
    }

    [Fact]
    public void A_parameter_matched_intermediate_variant_joins_the_headline_against_early_concat()
    {
        var runs = new List<RunResult>();
        foreach (var seed in new[] { 1L, 2L, 3L })
        {
            runs.Add(Run("early-concat", seed, 20 + 0.1 * seed, 100));
            runs.Add(Run("intermediate-cross", seed, 21 + 0.1 * seed, 99));
            runs.Add(Run("intermediate-cross-matched", seed, 19 + 0.1 * seed, 99));
        }
        var study = new StudyResults(runs, new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            ["early-concat"] = Macs(16.23), ["intermediate-cross"] = Macs(13.40), ["intermediate-cross-matched"] = Macs(13.0),
        });
        var rows = Claims.Evaluate(study);
        var matched = rows.Single(r => r.Headline && r.Claim.StartsWith("Higher CLIP", StringComparison.Ordinal)
                                       && r.Comparison.StartsWith("intermediate-cross-matched vs early-concat", StringComparison.Ordinal));
        Assert.Contains("(parameter-matched)", matched.Comparison);
        Assert.Equal(Verdict.NotSupported, matched.Verdict);   // 1 below early-concat in every seed
        Assert.Equal(Verdict.Supported, rows.Single(r => r.Headline && r.Claim.StartsWith("Higher CLIP", StringComparison.Ordinal)
                                                         && r.Comparison.StartsWith("intermediate-cross vs", StringComparison.Ordinal)).Verdict);
        // No matched variant, no matched rows: the paper's two headline pairs per claim.
        Assert.Equal(4 * 2, Claims.Evaluate(new StudyResults(runs.Where(r => !r.Variant.EndsWith("-matched")).ToList(),
            study.Exact.Where(kv => !kv.Key.EndsWith("-matched")).ToDictionary())).Count(r => r.Headline));
    }

    [Fact]
    public void One_seed_without_a_stored_spread_shows_its_sampling_noise_but_decides_nothing()
    {
        // Both evaluations resampled the same 4 captions; replicate differences are 0.5..1.5, all above 0 — sampling
        // noise alone would "support" the claim, which one trained model per variant cannot.
        SampleBootstrap B(params double[] clip) => new(4, clip.Length, 1, "digest", new Dictionary<string, double[]> { ["clip_score"] = clip });
        var early = new RunResult("early-concat", null, new Dictionary<string, double> { ["clip_score"] = 20 }, B(19, 20, 21, 20, 20));
        var inter = new RunResult("intermediate-cross", null, new Dictionary<string, double> { ["clip_score"] = 21 }, B(20.5, 21, 22.5, 21.5, 21));
        var study = new StudyResults([early, inter], new Dictionary<string, IReadOnlyDictionary<string, double>>());
        var d = Estimates.Difference(study, "intermediate-cross", "early-concat", "clip_score")!;
        Assert.Equal(1, d.Estimate);
        Assert.False(d.HasBounds);
        Assert.Equal(1, d.N);
        Assert.Contains("paired bootstrap over 4 evaluation samples (5 resamples): [1, 1.5]", d.Method);   // percentiles of 1.5, 1, 1.5, 1.5, 1
        var per = Estimates.PerVariant(study, "early-concat", "clip_score")!;
        Assert.Contains("bootstrap over 4 evaluation samples", per.Method);
        var row = Claims.Evaluate(study).First(r => r.Comparison.StartsWith("intermediate-cross vs early-concat", StringComparison.Ordinal));
        Assert.Equal(Verdict.Inconclusive, row.Verdict);
        Assert.Equal("inconclusive (one seed: seed-to-seed spread unknown)", row.VerdictText);
        // Evaluations of different captions do not pair: no bootstrap to show either.
        var other = inter with { Bootstrap = inter.Bootstrap! with { CaptionDigest = "other" } };
        var unpaired = Estimates.Difference(new StudyResults([early, other], study.Exact), "intermediate-cross", "early-concat", "clip_score")!;
        Assert.False(unpaired.HasBounds);
        Assert.Contains("no bootstrap of its sampling noise", unpaired.Method);
    }

    private static readonly (string, double)[] FourBars = [("early-concat", 110.1), ("early-cross", 110.2), ("intermediate-concat", 109.0), ("intermediate-cross", 109.0)];

    /// <summary>Pixels darker than light grey in rows [from, to): text and lines, not the white background.</summary>
    private static int Ink(SKBitmap bmp, int from, int to)
    {
        var n = 0;
        for (var y = from; y < to; y++)
        for (var x = 0; x < bmp.Width; x++)
            if (bmp.GetPixel(x, y) is var c && c.Red < 160 && c.Green < 160 && c.Blue < 160) n++;
        return n;
    }

    [Fact]
    public void ChartsAreFixedSizeDeterministicPngsWithText()
    {
        var line = Chart.Line("loss", "step", "loss", [new Series("a", [(0, 1.0), (1, 0.5), (2, 0.25)], [(0, 0.9, 1.1), (2, 0.2, 0.3)])], logY: true);
        using (var bmp = SKBitmap.Decode(line))
        {
            Assert.Equal((Chart.Width, Chart.Height), (bmp.Width, bmp.Height));
            Assert.True(Ink(bmp, 0, 30) > 20, "no title drawn: is DejaVu Sans installed (infra/setup.sh)?");
        }
        var bars = Chart.Bars("FID", "FID", FourBars, [(105, 115), (106, 114), (104, 113), (double.NaN, double.NaN)]);
        Assert.Equal(bars, Chart.Bars("FID", "FID", FourBars, [(105, 115), (106, 114), (104, 113), (double.NaN, double.NaN)]));
        using var withBars = SKBitmap.Decode(bars);
        using var without = SKBitmap.Decode(Chart.Bars("FID", "FID", FourBars));
        Assert.Equal((Chart.Width, Chart.Height), (withBars.Width, withBars.Height));
        // The whiskers (black, above three of the bars) are the only difference: more ink, in the plot area.
        Assert.True(Ink(withBars, 30, Chart.Height - 60) > Ink(without, 30, Chart.Height - 60) + 60);
    }

    [Fact]
    public void BadBarDataIsRefused()
    {
        Assert.Contains("3 intervals for 4 bars", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", FourBars, [(0, 1), (0, 1), (0, 1)])).Message);
        Assert.Contains("Lo > Hi", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", FourBars, [(0, 1), (2, 1), (0, 1), (0, 1)])).Message);
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => Chart.Bars("t", "u", [("a", double.NaN)])).Message);
        Assert.Throws<ArgumentException>(() => Chart.Line("t", "x", "y", [new Series("a", [(0, -1.0)])], logY: true));
    }

    [Theory]
    [InlineData(0.28, 1.05, "0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0")]            // a loss curve inside one decade: round values of y
    [InlineData(0.0019, 1.3, "0.002 0.005 0.01 0.02 0.05 0.1 0.2 0.5 1")]  // a few decades: 1-2-5
    [InlineData(9e-7, 11, "1e-6 1e-5 1e-4 0.001 0.01 0.1 1 10")]           // beyond three decades: decades only
    [InlineData(0.30005, 0.30042, "0.30010 0.30015 0.30020 0.30025 0.30030 0.30035 0.30040")]   // narrow: labels still differ
    public void LogAxisTicksAreRoundValues(double lo, double hi, string expected)
    {
        var ticks = Chart.LogTicks(Math.Log10(lo), Math.Log10(hi)).Where(t => t.Label is not null).ToList();
        Assert.Equal(expected, string.Join(" ", ticks.Select(t => t.Label)));
        Assert.All(ticks, t => Assert.InRange(t.Position, Math.Log10(lo), Math.Log10(hi)));
    }

    [Fact]
    public void GridsShowTheirImagesTheFullWrappedPromptsAndTheVariant()
    {
        const int size = 4, scale = 2;
        var pixels = new float[2 * 2 * 3 * size * size];
        pixels[0] = 1f;                                              // image 0, red channel, pixel (0,0)
        var longPrompt = string.Join(" ", Enumerable.Repeat("two blue triangles below a red square", 4));
        using var g = SKBitmap.Decode(SampleGrid.Png(pixels, size, size, ["first", longPrompt], columns: 2, scale, "intermediate-cross · seed=2", "note"));
        using var shortGrid = SKBitmap.Decode(SampleGrid.Png(pixels, size, size, ["first", "second"], columns: 2, scale, "intermediate-cross · seed=2", "note"));

        // Image 0's top-left pixel, upscaled 2×2, with image 0's black pixel (0,1) right of it.
        var red = Enumerable.Range(0, g.Height).SelectMany(y => Enumerable.Range(0, g.Width).Select(x => (x, y)))
            .Where(p => g.GetPixel(p.x, p.y) == new SKColor(255, 0, 0)).ToList();
        Assert.Equal(4, red.Count);
        var (x0, y0) = red[0];
        Assert.Equal([(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)], red);
        Assert.Equal(new SKColor(0, 0, 0), g.GetPixel(x0 + 2, y0));
        Assert.True(Ink(g, 0, 20) > 30, "no heading drawn: is DejaVu Sans installed (infra/setup.sh)?");
        Assert.True(Ink(g, y0 - 17, y0 - 2) > 10, "no prompt above the first row");
        // The long prompt wraps onto more lines (it is never cut), so its grid is taller by whole lines.
        Assert.True(g.Height >= shortGrid.Height + 3 * 15, $"{g.Height} vs {shortGrid.Height}");
        Assert.Equal("intermediate-cross · seed=2", SampleGrid.Title("sample[intermediate-cross/seed=2]"));
        Assert.Equal("early-concat", SampleGrid.Title("sample[early-concat]"));
    }

    [Theory]
    [InlineData(0.5f / 255f, 1)]       // floor(x·255 + 0.5): .5 rounds up like torchvision, not to even
    [InlineData(1.5f / 255f, 2)]
    [InlineData(-0.2f, 0)]
    [InlineData(1.7f, 255)]
    public void PixelQuantisationMatchesSaveImage(float value, byte expected) => Assert.Equal(expected, SampleGrid.Byte(value));
}
