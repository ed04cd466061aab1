using Fusion.Reproduction.Report;
using Fusion.Reproduction.Seeds;
using Fusion.Reproduction.Statistics;

namespace Fusion.Tests.Seeds;

/// <summary>Verdicts over seeds: equivalence margins, the stored seed spread of a one-seed run, and the sequential levels.</summary>
public class VerdictTests
{
    private static Interval I(double lo, double hi) => new((lo + hi) / 2, lo, hi, 3, "t");

    [Fact]
    public void An_interval_inside_the_margin_is_equivalent_before_anything_else()
    {
        var higher = new ClaimTest("d", 0, Higher: true, Inclusive: false, "0", Margin: 1);
        var lower = new ClaimTest("d", 0, Higher: false, Inclusive: false, "0", Margin: 1);
        Assert.Equal(Verdict.Equivalent, higher.Judge(I(-0.5, 0.5)));
        Assert.Equal(Verdict.Equivalent, higher.Judge(I(0.2, 0.8)));     // above 0, but by less than matters
        Assert.Equal(Verdict.Supported, higher.Judge(I(0.5, 1.5)));
        Assert.Equal(Verdict.Inconclusive, higher.Judge(I(-0.5, 1.5)));
        Assert.Equal(Verdict.Inconclusive, higher.Judge(I(-1, 0.5)));    // touching −δ is not inside
        Assert.Equal(Verdict.NotSupported, higher.Judge(I(-2.5, -1.5)));
        Assert.Equal(Verdict.Equivalent, lower.Judge(I(-0.9, -0.1)));
        Assert.Equal(Verdict.Inconclusive, higher.Judge(Interval.Point(0, 1, "1 seed")));   // no interval, no equivalence
        Assert.Contains("equivalent when it lies inside ±1 of 0 (two one-sided tests", higher.Rule(false));
        Assert.DoesNotContain("equivalent", new ClaimTest("d", 0, true, false, "0").Rule(false));
        Assert.Equal(Verdict.Equivalent, Claims.Combine([Verdict.Equivalent, Verdict.Equivalent]));
        Assert.Equal(Verdict.Inconclusive, Claims.Combine([Verdict.Supported, Verdict.Equivalent]));
        Assert.Equal(Verdict.NotSupported, Claims.Combine([Verdict.Equivalent, Verdict.NotSupported]));
    }

    private static SampleBootstrap Boot(params double[] clip) => new(4, clip.Length, 1, "digest", new Dictionary<string, double[]> { ["clip_score"] = clip });

    private static readonly RunResult Early = new("early-concat", 1, new Dictionary<string, double> { ["clip_score"] = 20 }, Boot(19, 20, 21, 20, 20), "recipe-e");
    private static readonly RunResult Inter = new("intermediate-cross", 1, new Dictionary<string, double> { ["clip_score"] = 23 }, Boot(22.5, 23, 24.5, 23.5, 23), "recipe-i");

    private static SeedSpread Stored(string intermediateRecipe = "recipe-i", string intermediate = "intermediate-cross") =>
        new("toy", "fusion calibrate toy --seeds 5", "2026-01-01", "test",
            [new SpreadComparison(intermediate, "early-concat", intermediateRecipe, "recipe-e", [1, 2, 3, 4, 5],
                new Dictionary<string, MetricSpread> { ["clip_score"] = Calibration.Of([1.0, 2.0, 3.0, 4.0, 5.0]) })]);

    [Fact]
    public void One_seed_judges_only_with_the_stored_spread_of_its_recipe()
    {
        var none = Estimates.Difference(new StudyResults([Early, Inter], new Dictionary<string, IReadOnlyDictionary<string, double>>()), "intermediate-cross", "early-concat", "clip_score")!;
        Assert.False(none.HasBounds);
        Assert.Equal("one seed: seed-to-seed spread unknown", none.Caveat);
        Assert.Contains("sampling noise alone, paired bootstrap over 4 evaluation samples (5 resamples)", none.Method);

        var study = new StudyResults([Early, Inter], new Dictionary<string, IReadOnlyDictionary<string, double>>(), Spread: Stored());
        var x = Estimates.Difference(study, "intermediate-cross", "early-concat", "clip_score")!;
        // diff ± t(0.975, 4) · √(sd² + var of the paired replicate differences 0.5, 0, 0.5, 0.5, 0) — the variances add.
        var reps = new[] { 0.5, 0, 0.5, 0.5, 0 };
        var bootVariance = reps.Sum(r => (r - 0.3) * (r - 0.3)) / 4;
        var half = Intervals.TQuantile(0.975, 4) * Math.Sqrt(2.5 + bootVariance);
        Assert.Equal(3, x.Estimate, 12);
        Assert.Equal(3 - half, x.Lo, 12);
        Assert.Equal(3 + half, x.Hi, 12);
        Assert.Null(x.Caveat);
        Assert.Contains("t-interval with the stored seed spread (sd 1.58 over 5 seeds 1,2,3,4,5, 2026-01-01)", x.Method);

        var otherRecipe = Estimates.Difference(study with { Spread = Stored("recipe-x") }, "intermediate-cross", "early-concat", "clip_score")!;
        Assert.Equal("one seed: the stored seed spread is for another recipe", otherRecipe.Caveat);
        Assert.False(otherRecipe.HasBounds);
        var unknownRecipe = Estimates.Difference(study with { Runs = [Early, Inter with { Recipe = null }] }, "intermediate-cross", "early-concat", "clip_score")!;
        Assert.False(unknownRecipe.HasBounds);
        var fid = Estimates.Difference(study with { Runs = [Early with { Metrics = new Dictionary<string, double> { ["fid"] = 1 } }, Inter with { Metrics = new Dictionary<string, double> { ["fid"] = 2 } }] },
            "intermediate-cross", "early-concat", "fid")!;
        Assert.Equal("one seed: the stored seed spread has no fid", fid.Caveat);
    }

    [Fact]
    public void A_stored_spread_is_read_strictly()
    {
        var json = Stored().ToJson();
        Assert.Equal(Stored().Comparisons[0].Metrics["clip_score"].Sd, SeedSpread.Parse(json, "s.json").Comparisons[0].Metrics["clip_score"].Sd);
        Assert.Contains("s.json", Assert.Throws<InvalidDataException>(() => SeedSpread.Parse(json.Replace("\"df\": 4", "\"df\": 3"), "s.json")).Message);
        Assert.Contains("s.json", Assert.Throws<InvalidDataException>(() => SeedSpread.Parse(json.Replace("\"pipeline\"", "\"pipe\""), "s.json")).Message);
        Assert.Contains("no comparison", Assert.Throws<InvalidDataException>(() => SeedSpread.Parse("""{"pipeline":"p","command":"c","date":"d","machine":"m","comparisons":[]}""", "s.json")).Message);
    }

    [Fact]
    public void The_sequential_levels_spend_alpha_pocock_style_and_no_more()
    {
        foreach (var n in new[] { 1, 2, 5, 8, 20 })
        {
            var d = new SequentialDesign(n);
            var spent = Enumerable.Range(1, n).Select(k => 1 - d.LevelAt(k)).ToList();
            Assert.Equal(0.05, spent.Sum(), 12);                        // all looks together: α, by Bonferroni
            Assert.All(spent, s => Assert.InRange(s, 0, 0.05 + 1e-15));
            for (var k = 1; k < n; k++) Assert.True(spent[k] < spent[k - 1], "Pocock-type spending spends less at each later look");
        }
        Assert.Equal(0.95, new SequentialDesign(1).LevelAt(1), 12);    // one look: the fixed design
        Assert.Equal(0.05 * Math.Log(1 + (Math.E - 1) / 8), 1 - new SequentialDesign(8).LevelAt(1), 15);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequentialDesign(3).LevelAt(4));
        // A look's paired t-interval uses its level, and says so.
        var design = new SequentialDesign(8);
        var runs = new List<RunResult>();
        foreach (var (seed, d) in new[] { (1L, 1.0), (2L, 2.0), (3L, 1.5) })
        {
            runs.Add(new RunResult("early-concat", seed, new Dictionary<string, double> { ["fid"] = 10 }));
            runs.Add(new RunResult("intermediate-cross", seed, new Dictionary<string, double> { ["fid"] = 10 + d }));
        }
        var x = Estimates.Difference(new StudyResults(runs, new Dictionary<string, IReadOnlyDictionary<string, double>>(), Design: design), "intermediate-cross", "early-concat", "fid")!;
        var fixedX = Intervals.TInterval([1.0, 2.0, 1.5], "seed");
        Assert.Equal(Intervals.TInterval([1.0, 2.0, 1.5], "seed", design.LevelAt(3)).Hi, x.Hi, 12);
        Assert.True(x.Hi - x.Lo > fixedX.Hi - fixedX.Lo);
        Assert.Contains("99.3", x.Method);
    }

    [Fact]
    public void Coverage_counts_how_often_one_seed_intervals_hold_the_all_seed_mean()
    {
        // Differences 1, 2, 3, 10 (mean 4): each one-seed bootstrap (±0.1) misses it; with the others' spread most cover it.
        RunResult Run(string v, long seed, double clip) => new(v, seed, new Dictionary<string, double> { ["clip_score"] = clip }, Boot(clip - 0.1, clip, clip + 0.1, clip, clip), "r-" + v);
        var pairs = new[] { 1.0, 2, 3, 10 }.Select((d, k) => (Run("intermediate-cross", k + 1, 20 + d), Run("early-concat", k + 1, 20))).ToList();
        var comparison = Calibration.Spread("intermediate-cross", "early-concat", "r-intermediate-cross", "r-early-concat", pairs);
        Assert.Equal(4, comparison.Metrics["clip_score"].Mean, 12);
        var row = Assert.Single(Calibration.Coverage(comparison, pairs, new SeedSpread("toy", "c", "d", "m", [comparison])));
        Assert.Equal(0, row.BootstrapCovered);
        Assert.True(row.SpreadCovered >= 3, $"{row.SpreadCovered} of 4");
        Assert.True(row.SpreadHalfWidth > row.BootstrapHalfWidth);
        Assert.Throws<ArgumentException>(() => Calibration.Coverage(comparison, pairs.Take(2).ToList(), new SeedSpread("toy", "c", "d", "m", [comparison])));
    }
}
