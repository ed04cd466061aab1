using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

public enum Verdict { Supported, NotSupported, Equivalent, Inconclusive, NotMeasured }

/// <summary>
/// One row of the claims tables: a claim judged for one comparison (headline) or across the within-method pairs
/// (breakdown), with the interval it was judged on (null for a breakdown row, whose pairs each have their own), the
/// claim's threshold and equivalence margin, and whether it is a quality claim (judged over seeds).
/// </summary>
public sealed record ClaimRow(string Claim, string Comparison, bool Headline, string Measurement, Verdict Verdict, string Rule, Interval? Interval,
    bool Quality = false, double Threshold = 0, double? Margin = null, string Axis = "")
{
    /// <summary>The verdict's words, with the reason an undecidable estimate gives ("inconclusive (one seed: …)").</summary>
    public string VerdictText => Claims.Label(Verdict) + (Verdict == Verdict.Inconclusive && Interval?.Caveat is { } why ? $" ({why})" : "");

    /// <summary>Undecided: inconclusive, which more seeds may settle (a comparison not measured is no question of seeds).</summary>
    public bool Undecided => Verdict == Verdict.Inconclusive;
}

/// <summary>
/// Practical-equivalence margins δ of the quality claims: a difference inside ±δ is too small to matter. CLIP Score in
/// its 100·cos points, FID in its own units, alignment as a fraction (0.05 = 5 points).
/// </summary>
public sealed record EquivalenceMargins(double ClipScore = 1.0, double Fid = 1.0, double Alignment = 0.05);

/// <summary>
/// The paper's four headline claims, judged as the abstract states them — "our intermediate fusion model" against "a
/// strong U-ViT baseline with an early fusion", i.e. upstream U-ViT, early-concat — for each intermediate variant
/// (headline rows); and, as a breakdown, within each conditioning method (intermediate-concat vs early-concat and
/// intermediate-cross vs early-cross), where a claim is supported only when it is in every pair. Each verdict is
/// three-way (<see cref="ClaimTest"/>).
/// </summary>
public static class Claims
{
    /// <summary>"20 % reduced FLOPs": supported when the reduction is at least three quarters of the claim (≥ 15 %).</summary>
    public const double FlopReductionClaim = 0.20;

    /// <summary>"50 % increased training speed": supported when the speed-up is at least three quarters of it (≥ 37.5 %).</summary>
    public const double SpeedupClaim = 0.50;

    public const string Baseline = "early-concat";

    /// <summary>
    /// The variant the paper's numbers match: with exact MACs at the paper's scale (U-ViT-S/2, c = v = 3),
    /// intermediate-cross is 17.4 % below early-concat (16.23 → 13.40 GMACs) and intermediate-concat only 6.8 %, so only
    /// intermediate-cross fits the claimed ≈20 %.
    /// </summary>
    public const string PaperModel = "intermediate-cross";

    public static readonly (string Intermediate, string Early)[] HeadlinePairs = [(PaperModel, Baseline), ("intermediate-concat", Baseline)];

    /// <summary>
    /// Suffix of a parameter-matched intermediate variant (e.g. <c>intermediate-cross-matched</c>: c = 0, so exactly the
    /// early variants' blocks and parameter count, the text entering only after the first v image-only blocks). Its rows
    /// join the headline when a pipeline trains one, so a quality win can be checked like for like.
    /// </summary>
    public const string MatchedSuffix = "-matched";

    /// <summary>The headline pairs of a study: the paper's, then each parameter-matched intermediate variant it has.</summary>
    public static IReadOnlyList<(string Intermediate, string Early)> HeadlinePairsOf(StudyResults study) =>
        [.. HeadlinePairs, .. study.Variants.Where(v => v.StartsWith("intermediate-", StringComparison.Ordinal) && v.EndsWith(MatchedSuffix, StringComparison.Ordinal))
            .Select(v => (v, Baseline))];
    public static readonly (string Intermediate, string Early)[] WithinMethodPairs = [("intermediate-concat", "early-concat"), ("intermediate-cross", "early-cross")];

    /// <param name="OnlyWhereMeasured">The claim has rows only when some run measured its metric (a benchmark's own scorer).</param>
    private sealed record Claim(string Name, ClaimTest Test, bool Exact, Func<StudyResults, string, string, Interval?> Measure, string Format, string Axis,
        string? Metric = null, bool OnlyWhereMeasured = false)
    {
        public bool Quality => Metric is not null;
    }

    /// <summary>
    /// The claims: the paper's four, and where a pipeline measures it (the shapes benchmark's exact scorer) the title's
    /// "text-image alignment" as the fraction of samples with every attribute right. Quality claims are judged over
    /// seeds, with their equivalence margins.
    /// </summary>
    private static Claim[] ClaimsOf(EquivalenceMargins m) =>
    [
        new("Higher CLIP Score", new ClaimTest("intermediate − early CLIP Score", 0, Higher: true, Inclusive: false, "0", m.ClipScore), false,
            (s, i, e) => Estimates.Difference(s, i, e, "clip_score"), "F2", "Δ CLIP Score (intermediate − early)", "clip_score"),
        new("Lower FID", new ClaimTest("intermediate − early FID", 0, Higher: false, Inclusive: false, "0", m.Fid), false,
            (s, i, e) => Estimates.Difference(s, i, e, "fid"), "F2", "Δ FID (intermediate − early)", "fid"),
        new("Higher alignment accuracy", new ClaimTest("intermediate − early alignment (all attributes right)", 0, Higher: true, Inclusive: false, "0", m.Alignment), false,
            (s, i, e) => Estimates.Difference(s, i, e, AlignmentMetric), "F3", "Δ fraction with every attribute right", AlignmentMetric, OnlyWhereMeasured: true),
        new("≈20 % fewer FLOPs", new ClaimTest("the forward-MAC reduction 1 − intermediate/early", 0.75 * FlopReductionClaim, Higher: true, Inclusive: true,
            $"{75 * FlopReductionClaim:F0} % (¾ of the claim)"), true, FlopReduction, "P1", "MAC reduction 1 − intermediate/early"),
        new("≈50 % faster training", new ClaimTest("the per-round train-speed ratio intermediate ÷ early", 1 + 0.75 * SpeedupClaim, Higher: true, Inclusive: true,
            $"{1 + 0.75 * SpeedupClaim:F3} (+{75 * SpeedupClaim:F1} %, ¾ of the claim)"), false,
            (s, i, e) => Estimates.RateRatio(s.Timing, i, e, train: true), "F3", "train-speed ratio intermediate ÷ early"),
    ];

    /// <summary>The alignment metric judged as a claim: every attribute of a caption right.</summary>
    public const string AlignmentMetric = "alignment_all";

    public static IReadOnlyList<ClaimRow> Evaluate(StudyResults study, EquivalenceMargins? margins = null)
    {
        var rows = new List<ClaimRow>();
        // COCO pipelines have no exact alignment scorer: no rows for it there (the paper's claims show "not measured").
        var claims = ClaimsOf(margins ?? new EquivalenceMargins())
            .Where(c => !c.OnlyWhereMeasured || study.Runs.Any(r => r.Metrics.ContainsKey(c.Metric!))).ToList();
        foreach (var claim in claims)
            foreach (var (i, e) in HeadlinePairsOf(study))
            {
                var x = claim.Measure(study, i, e);
                var comparison = $"{i} vs {e}" + (i == PaperModel ? " (the paper's model)" : i.EndsWith(MatchedSuffix, StringComparison.Ordinal) ? " (parameter-matched)" : "");
                rows.Add(new ClaimRow(claim.Name, comparison, true, Describe(claim, x), claim.Test.Judge(x, claim.Exact), claim.Test.Rule(claim.Exact), x,
                    claim.Quality, claim.Test.Threshold, claim.Test.Margin, claim.Axis));
            }
        foreach (var claim in claims)
        {
            var parts = WithinMethodPairs.Select(p => (Pair: p, X: claim.Measure(study, p.Intermediate, p.Early))).ToList();
            var verdicts = parts.Select(p => claim.Test.Judge(p.X, claim.Exact)).ToList();
            rows.Add(new ClaimRow(claim.Name, "within each conditioning method", false,
                string.Join("; ", parts.Select((p, k) => $"{p.Pair.Intermediate} vs {p.Pair.Early}: {Describe(claim, p.X)} → {Label(verdicts[k])}")),
                Combine(verdicts), claim.Test.Rule(claim.Exact) + ", in every pair", null, claim.Quality, claim.Test.Threshold, claim.Test.Margin, claim.Axis));
        }
        return rows;
    }

    /// <summary>
    /// Every pair must be supported; any pair not supported decides; then a missing figure, then an undecided pair;
    /// every pair equivalent is equivalent, and a mix of supported and equivalent pairs is not "in every pair": inconclusive.
    /// </summary>
    public static Verdict Combine(IReadOnlyList<Verdict> verdicts) =>
        verdicts.Contains(Verdict.NotSupported) ? Verdict.NotSupported
        : verdicts.Contains(Verdict.NotMeasured) ? Verdict.NotMeasured
        : verdicts.Contains(Verdict.Inconclusive) ? Verdict.Inconclusive
        : verdicts.All(v => v == Verdict.Equivalent) ? Verdict.Equivalent
        : verdicts.All(v => v == Verdict.Supported) ? Verdict.Supported
        : Verdict.Inconclusive;

    private static Interval? FlopReduction(StudyResults s, string i, string e) =>
        s.Exact.TryGetValue(i, out var a) && s.Exact.TryGetValue(e, out var b) && a.TryGetValue("forward_gmacs", out var x) && b.TryGetValue("forward_gmacs", out var y)
            ? Interval.Point(1 - x / y, 1, $"exact MAC count, {x:F4} vs {y:F4} GMACs")
            : null;

    private static string Describe(Claim claim, Interval? x) =>
        x is null ? "not measured" : $"{x.Format(claim.Format)} ({x.Method}; n = {x.N})";

    /// <summary>The rule of each claim, once (the report lists them under the table instead of on every row).</summary>
    public static IReadOnlyList<(string Claim, string Rule)> Rules(EquivalenceMargins? margins = null) =>
        ClaimsOf(margins ?? new EquivalenceMargins()).Select(c => (c.Name, c.Test.Rule(c.Exact))).ToList();

    public static string Label(Verdict v) => v switch
    {
        Verdict.Supported => "supported",
        Verdict.NotSupported => "not supported",
        Verdict.Equivalent => "equivalent",
        Verdict.Inconclusive => "inconclusive",
        _ => "not measured",
    };
}
