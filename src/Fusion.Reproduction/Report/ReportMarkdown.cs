using System.Globalization;
using System.Text;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Report;

/// <summary>report.md: the claims (headline and breakdown), the results with their intervals, the timing rounds, plots and grids.</summary>
public sealed class ReportMarkdown(string title, StageContext context, StudyResults study, IReadOnlyList<string> variants, IReadOnlyList<string> columns,
    Func<string, string, Interval?> cell, IReadOnlyDictionary<string, MetricRow>? reference, IReadOnlyList<ClaimRow> claims,
    EquivalenceMargins margins, string? stopReason, string? forest, IReadOnlyList<(string Title, string File)> images, IReadOnlyList<(string Variant, string File)> grids, string? clipConvention, string? fidFeatures)
{
    private readonly StringBuilder md = new();

    public string Render()
    {
        md.AppendLine($"# {title}").AppendLine();
        md.AppendLine("Hu, Jia, Rostami — *An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion Models* (arXiv 2403.16530), reproduced by `fusion`.").AppendLine();
        md.AppendLine($"Generated {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by node `{context.NodeId}`; environment: " +
                      string.Join(", ", context.Environment.Values.OrderBy(k => k.Key).Select(kv => $"{kv.Key} {kv.Value}")) + ".").AppendLine();
        ClaimsSection();
        ResultsSection();
        TimingSection();
        if (images.Count > 0)
        {
            md.AppendLine("## Plots").AppendLine().AppendLine("Whiskers are the 95 % intervals of the results table.").AppendLine();
            foreach (var (t, f) in images) md.AppendLine($"![{t}]({f})").AppendLine();
        }
        if (grids.Count > 0)
        {
            md.AppendLine("## Samples (same prompts and seeds for every variant)").AppendLine();
            foreach (var (v, f) in grids) md.AppendLine($"### {v}").AppendLine().AppendLine($"![{v}]({f})").AppendLine();
        }
        md.AppendLine("Files: [results.csv](results.csv), [results.parquet](results.parquet), [claims.csv](claims.csv).");
        return md.ToString();
    }

    private void ClaimsSection()
    {
        md.AppendLine("## Claims").AppendLine();
        var oneSeed = claims.Where(c => c.Quality && c.Interval is { N: 1 }).ToList();
        if (oneSeed.Count > 0)
            md.AppendLine(oneSeed.Any(c => c.Interval!.HasBounds)
                ? "> **One seed.** Quality verdicts here rest on one trained model per variant; where the stored seed spread of this exact recipe is known it widens their intervals (named in each row), otherwise they are inconclusive. Train more seeds (`-p \"train.seeds=[1,2,3]\"`) or let `fusion run --until-decided` add them."
                : "> **One seed.** Quality verdicts here rest on one trained model per variant and no stored seed spread matches this recipe, so they are inconclusive: a bootstrap over one model's samples measures sampling noise, not how a training recipe varies with its seed. Train more seeds (`-p \"train.seeds=[1,2,3]\"`) or let `fusion run --until-decided` add them.")
                .AppendLine();
        if (study.Design is { } design) SequentialStatus(design);
        md.AppendLine($"As the paper states them: each intermediate-fusion variant against U-ViT itself (early-concat). The paper's model is " +
                      $"`{Claims.PaperModel}`: at its scale (U-ViT-S/2, c = v = 3) only that variant's exact MACs come near the claimed ≈20 % cut " +
                      "(−17.4 % vs −6.8 % for intermediate-concat). Quality claims are judged over training seeds; n counts the independent units (seeds or timing rounds).").AppendLine();
        ClaimTable(claims.Where(c => c.Headline));
        if (forest is not null)
            md.AppendLine($"![Claims at a glance: each difference with its interval; dashed line the claim's threshold, shaded band ±δ; green supported, red not supported, blue equivalent, grey inconclusive]({forest})").AppendLine();
        md.AppendLine("### Breakdown: within each conditioning method").AppendLine();
        md.AppendLine("Not the paper's comparison: intermediate-concat vs early-concat and intermediate-cross vs early-cross, supported only when supported in both pairs.").AppendLine();
        ClaimTable(claims.Where(c => !c.Headline));
        md.AppendLine("**Rules.** Each claim's rule, for every row:").AppendLine();
        foreach (var (claim, rule) in Claims.Rules(margins).Where(r => claims.Any(c => c.Claim == r.Claim)))
            md.AppendLine($"- {claim}: {rule}.");
        md.AppendLine().AppendLine("*Equivalent*: the difference is smaller than the practical margin δ either way — the variants do not differ by an amount that matters. " +
                      "*Inconclusive*: this run cannot tell; more seeds narrow the interval. FLOPs are exact and need no interval.").AppendLine();
    }

    private void SequentialStatus(SequentialDesign design)
    {
        var seeds = study.Runs.Select(r => r.Seed).Distinct().Count();
        var quality = claims.Where(c => c.Headline && c.Quality).ToList();
        var decided = !quality.Any(c => c.Undecided);
        var level = design.LevelAt(Math.Min(Math.Max(seeds, 1), design.MaxSeeds));
        md.AppendLine($"**Sequential run: {seeds} seed{(seeds == 1 ? "" : "s")} of at most {design.MaxSeeds}.** " +
                      $"{(decided ? "Every headline quality claim is decided, so the run stopped here." : stopReason is not null ? $"Stopped undecided: {stopReason}." : seeds >= design.MaxSeeds ? "Stopped undecided: the seed cap is reached." : $"{quality.Count(c => c.Undecided)} headline quality claim(s) undecided at this look.")} " +
                      $"This look's intervals are at {Intervals.LevelText(level)}— {design.Describe()}.").AppendLine();
    }

    private void ClaimTable(IEnumerable<ClaimRow> rows)
    {
        md.AppendLine("| claim | comparison | measurement (interval; how; n) | verdict |").AppendLine("|---|---|---|---|");
        foreach (var c in rows)
            md.AppendLine($"| {c.Claim} | {c.Comparison} | {c.Measurement} | **{c.VerdictText}**" + (c.Interval is { } x ? $" (n = {x.N})" : "") + " |");
        md.AppendLine();
    }

    private void ResultsSection()
    {
        md.AppendLine("## Results").AppendLine();
        var shown = columns.Where(c => variants.Any(v => cell(v, c) is not null)).ToList();
        md.AppendLine("| variant | " + string.Join(" | ", shown.Select(Header)) + " |");
        md.AppendLine("|---|" + string.Join("", shown.Select(_ => "---:|")));
        foreach (var v in variants) md.AppendLine($"| {v} | " + string.Join(" | ", shown.Select(c => Format(c, cell(v, c)))) + " |");
        if (reference is not null)
        {
            md.AppendLine("| *real val images* | " + string.Join(" | ", shown.Select(c => reference.TryGetValue(c, out var r) ? Format(c, Interval.Point(r.Value, 1, "")) : "")) + " |");
            if (reference.Keys.Any(k => k.StartsWith("chance_", StringComparison.Ordinal)))
                md.AppendLine("| *chance (real images, captions shuffled)* | " + string.Join(" | ", shown.Select(c =>
                    reference.TryGetValue("chance_" + c, out var r) ? Format(c, Interval.Point(r.Value, 1, "")) : "")) + " |");
        }
        md.AppendLine();
        md.AppendLine("Each cell is the estimate with its 95 % interval in brackets. How each column's interval was made:").AppendLine();
        foreach (var c in shown)
        {
            var methods = variants.Select(v => cell(v, c)?.Method).OfType<string>().Distinct().ToList();
            md.AppendLine($"- {Header(c)}: {string.Join("; ", methods)}");
        }
        md.AppendLine();
        if (clipConvention is not null) md.AppendLine($"CLIP Score convention: {clipConvention}.");
        if (fidFeatures is not null) md.AppendLine($"FID feature space: {fidFeatures}.");
        md.AppendLine("GMACs are multiply–accumulates of one forward pass at batch 1 (1 MAC = 2 FLOPs); speeds were measured on this run's device, so compare them only within this report.").AppendLine();

        if (study.Runs.GroupBy(r => r.Variant).Any(g => g.Count() > 1))
        {
            string[] perRun = ["final_loss", "fid", "clip_score", "clip_s", "alignment_all"];
            var runColumns = perRun.Where(c => study.Runs.Any(r => r.Metrics.ContainsKey(c))).ToList();
            md.AppendLine("### Per run (each seed; bootstrap intervals over its evaluation samples)").AppendLine();
            md.AppendLine("| variant | seed | " + string.Join(" | ", runColumns.Select(Header)) + " |");
            md.AppendLine("|---|---:|" + string.Join("", runColumns.Select(_ => "---:|")));
            foreach (var r in study.Runs.OrderBy(r => r.Variant, StringComparer.Ordinal).ThenBy(r => r.Seed))
                md.AppendLine($"| {r.Variant} | {r.Seed} | " + string.Join(" | ", runColumns.Select(c => r.Metrics.ContainsKey(c) ? Format(c, Estimates.OverSamples(r, c)) : "")) + " |");
            md.AppendLine();
        }
    }

    private void TimingSection()
    {
        if (study.Timing is not { } t) return;
        md.AppendLine("## Timing (interleaved rounds)").AppendLine();
        md.AppendLine($"All variants were timed in one node, round by round (each round runs every variant once, the order rotating), after warm-up: {t.Machine}.").AppendLine();
        md.AppendLine("| variant | train steps/s: median [95 % interval] | train: min–max | sample images/s: median [95 % interval] | sample: min–max |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        string Spread(IReadOnlyDictionary<string, double[]> rates, string v) =>
            rates.TryGetValue(v, out var r) && r.Length > 0 ? $"{Num(r.Min())}–{Num(r.Max())}" : "";
        foreach (var v in variants.Where(v => t.Train.ContainsKey(v) || t.Sample.ContainsKey(v)))
            md.AppendLine($"| {v} | {Fmt(Estimates.Rate(t, v, true))} | {Spread(t.Train, v)} | {Fmt(Estimates.Rate(t, v, false))} | {Spread(t.Sample, v)} |");
        md.AppendLine();
        md.AppendLine("| per-round ratio | train speed: median [95 % interval] | sampling speed: median [95 % interval] |").AppendLine("|---|---:|---:|");
        foreach (var (i, e) in Claims.HeadlinePairsOf(study).Concat(Claims.WithinMethodPairs).Distinct())
            if (Estimates.RateRatio(t, i, e, true) is { } train)
                md.AppendLine($"| {i} ÷ {e} | {train.Format("F3")} | {Fmt(Estimates.RateRatio(t, i, e, false), "F3")} |");
        var method = variants.Select(v => Estimates.Rate(t, v, true)?.Method).OfType<string>().FirstOrDefault();
        md.AppendLine().AppendLine($"Intervals: {method ?? "none"}.").AppendLine();
    }

    private static string Fmt(Interval? x, string? format = null) => x is null ? "" : format is null ? x.Format(FormatOf(x.Estimate)) : x.Format(format);

    private static string Num(double v) => v.ToString(FormatOf(v), CultureInfo.InvariantCulture);

    private static string FormatOf(double v) => Math.Abs(v) >= 100 ? "F1" : Math.Abs(v) >= 1 ? "F3" : "G4";

    private static string Header(string c) => c.Replace('_', ' ');

    private static string Format(string column, Interval? x) => x switch
    {
        null => "",
        _ when column == "parameters" => x.Estimate.ToString("N0", CultureInfo.InvariantCulture),
        _ when column.StartsWith("alignment", StringComparison.Ordinal) => (x with { Estimate = 100 * x.Estimate, Lo = 100 * x.Lo, Hi = 100 * x.Hi }).Format("F1") + " %",
        _ => x.Format(FormatOf(x.Estimate)),
    };
}
