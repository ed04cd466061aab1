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
        Assert.Contains("inconclusive when it straddles it", Higher.Rule(false));
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
    public void One_seed_uses_the_paired_bootstrap_over_evaluation_samples_and_says_so()
    {
        // Both evaluations resampled the same 4 captions; replicate differences are 0.5..1.5, all above 0.
        SampleBootstrap B(params double[] clip) => new(4, clip.Length, 1, "digest", new Dictionary<string, double[]> { ["clip_score"] = clip });
        var early = new RunResult("early-concat", null, new Dictionary<string, double> { ["clip_score"] = 20 }, B(19, 20, 21, 20, 20));
        var inter = new RunResult("intermediate-cross", null, new Dictionary<string, double> { ["clip_score"] = 21 }, B(20.5, 21, 22.5, 21.5, 21));
        var study = new StudyResults([early, inter], new Dictionary<string, IReadOnlyDictionary<string, double>>());
        var d = Estimates.Difference(study, "intermediate-cross", "early-concat", "clip_score")!;
        Assert.Equal(1, d.Estimate);
        Assert.Equal((1.0, 1.5), (d.Lo, d.Hi));                                        // percentiles of 1.5, 1, 1.5, 1.5, 1
        Assert.Equal(4, d.N);
        Assert.Contains("paired bootstrap over 4 evaluation samples (5 resamples), 1 seed", d.Method);
        var per = Estimates.PerVariant(study, "early-concat", "clip_score")!;
        Assert.Contains("bootstrap over 4 evaluation samples", per.Method);
        Assert.Equal(Verdict.Supported, Claims.Evaluate(study).First(r => r.Comparison.StartsWith("intermediate-cross vs early-concat", StringComparison.Ordinal)).Verdict);
        // Evaluations of different captions do not pair: no interval, so no verdict either way.
        var other = inter with { Bootstrap = inter.Bootstrap! with { CaptionDigest = "other" } };
        var unpaired = Estimates.Difference(new StudyResults([early, other], study.Exact), "intermediate-cross", "early-concat", "clip_score")!;
        Assert.False(unpaired.HasBounds);
    }

    [Fact]
    public void ChartsAndGridsArePngsOfTheExpectedSize()
    {
        var line = Chart.Line("loss", "step", "loss", [new Series("a", [(0, 1.0), (1, 0.5), (2, 0.25)])], logY: true);
        using (var bmp = SKBitmap.Decode(line)) Assert.Equal((720, 420), (bmp.Width, bmp.Height));
        var bars = Chart.Bars("GMACs", "GMACs", [("early", 16.2), ("intermediate", 12.9)]);
        Assert.NotNull(SKBitmap.Decode(bars));
        var whiskers = Chart.Bars("FID", "FID", [("early", 16.2), ("intermediate", 12.9)], [(15.0, 17.5), (double.NaN, double.NaN)]);
        Assert.NotEqual(bars, whiskers);
        Assert.Throws<ArgumentException>(() => Chart.Bars("FID", "FID", [("early", 16.2)], []));

        var pixels = new float[2 * 2 * 3 * 4 * 4];
        pixels[0] = 1f;                                              // image 0, red channel, pixel (0,0)
        var grid = SampleGrid.Png(pixels, 4, 4, ["first", "second"], columns: 2, scale: 2);
        using var g = SKBitmap.Decode(grid);
        Assert.Equal(2 * (8 + 4) + 4, g.Width);
        Assert.Equal(new SKColor(255, 0, 0), g.GetPixel(4, 4 + 18));  // top-left pixel of image 0, upscaled
        Assert.Equal(new SKColor(0, 0, 0), g.GetPixel(4 + 2, 4 + 18));
    }

    [Theory]
    [InlineData(0.5f / 255f, 1)]       // floor(x·255 + 0.5): .5 rounds up like torchvision, not to even
    [InlineData(1.5f / 255f, 2)]
    [InlineData(-0.2f, 0)]
    [InlineData(1.7f, 255)]
    public void PixelQuantisationMatchesSaveImage(float value, byte expected) => Assert.Equal(expected, SampleGrid.Byte(value));
}
