using System.Globalization;
using System.Text;

namespace Fusion.Worker.Regression;

/// <summary>How one metric compared. Regressed, Missing and Incomparable fail the check; the others pass.</summary>
public enum MetricOutcome { Within, Improved, New, Regressed, Missing, Incomparable }

/// <summary>Overall verdict. Only Passed is a pass; Incomparable (missing metric, NaN, no baseline…) is a failure.</summary>
public enum Verdict { Passed, Regressed, Incomparable }

/// <summary>
/// One row of a report. <see cref="Baseline"/> is the baseline's mean over <see cref="BaselineN"/> runs (standard
/// deviation <see cref="BaselineSd"/>, null for one run); <see cref="Delta"/> is current − baseline; <see cref="Allowed"/>
/// the tolerance used and <see cref="Basis"/> the rule term that set it.
/// </summary>
public sealed record MetricCheck(
    string Metric, string Unit, double? Baseline, double? Current, double? Delta, double? Allowed, Better? Better,
    MetricOutcome Outcome, string Note)
{
    public double? BaselineSd { get; init; }
    public int? BaselineN { get; init; }
    public string? Basis { get; init; }

    public bool Fails => Outcome is MetricOutcome.Regressed or MetricOutcome.Missing or MetricOutcome.Incomparable;

    /// <summary>The values that pass: "≤ 20.5" (lower is better), "≥ 0.298" (higher), "19.5 … 20.5" (either).</summary>
    public string? PassBand => (Baseline, Allowed, Better) switch
    {
        ({ } b, { } a, Regression.Better.Lower) => $"≤ {RegressionReport.Num(b + a)}",
        ({ } b, { } a, Regression.Better.Higher) => $"≥ {RegressionReport.Num(b - a)}",
        ({ } b, { } a, _) => $"{RegressionReport.Num(b - a)} … {RegressionReport.Num(b + a)}",
        _ => null,
    };
}

/// <summary>The result of comparing one run to a baseline: written as JSON and Markdown, and posted to the webhook.</summary>
public sealed record RegressionReport(
    string RunId, string BaselineName, string? BaselineRunId, DateTimeOffset CheckedUtc, Verdict Verdict,
    IReadOnlyList<MetricCheck> Checks, string? Problem = null)
{
    /// <summary>Every run the baseline was blessed from (<see cref="BaselineRunId"/> is the first).</summary>
    public IReadOnlyList<string>? BaselineRuns { get; init; }

    public bool Passed => Verdict == Verdict.Passed;

    private string? BaselineDescription => BaselineRuns is { Count: > 1 } runs ? $"mean of {runs.Count} runs: {string.Join(", ", runs)}"
        : BaselineRunId is null ? null : $"run {BaselineRunId}";

    /// <summary>One line for logs, statuses and chat: "nightly-2026-11-26: REGRESSED vs nightly (run …): fid +1.2 > 0.5".</summary>
    public string Summary
    {
        get
        {
            var failing = Checks.Where(c => c.Fails).Select(c => $"{c.Metric} {c.Outcome.ToString().ToLowerInvariant()}"
                + (c.Delta is { } d && c.Allowed is { } a && c.Outcome == MetricOutcome.Regressed ? $" ({Num(d, true)} beyond ±{Num(a)})" : "")).ToList();
            if (Problem is not null) failing.Insert(0, Problem);
            var tail = failing.Count > 0 ? ": " + string.Join("; ", failing) : $" ({Checks.Count(c => !c.Fails)} metrics within tolerance)";
            return $"{RunId}: {Verdict.ToString().ToUpperInvariant()} against baseline '{BaselineName}'{(BaselineDescription is { } d ? $" ({d})" : "")}{tail}";
        }
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        var icon = Verdict == Verdict.Passed ? "✅" : Verdict == Verdict.Regressed ? "❌" : "⚠️";
        sb.AppendLine($"# Regression check: {RunId} — {icon} {Verdict}");
        sb.AppendLine();
        sb.AppendLine($"Baseline **{BaselineName}**{(BaselineDescription is { } d ? $" = {d}" : " (none blessed)")}, checked {CheckedUtc:yyyy-MM-dd HH:mm:ss} UTC.");
        if (Problem is not null) sb.AppendLine().AppendLine($"**{Problem}**");
        if (Checks.Any(c => c.Note.Contains(Tolerance.NoSpreadNote, StringComparison.Ordinal)))
            sb.AppendLine().AppendLine($"Some rules ask for a seed spread that this baseline lacks ({Tolerance.NoSpreadNote}); those metrics use only their absolute and relative tolerances.");
        sb.AppendLine();
        sb.AppendLine("| metric | unit | baseline mean ± sd (n) | current | Δ | tolerance | passes when | better | result | note |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|---|---|---|");
        foreach (var c in Checks)
            sb.AppendLine($"| {c.Metric} | {c.Unit} | {BaselineCell(c)} | {Num(c.Current)} | {Num(c.Delta, true)} | {(c.Allowed is { } a ? $"±{Num(a)} ({c.Basis})" : "")} | " +
                          $"{c.PassBand} | {c.Better?.ToString().ToLowerInvariant()} | {(c.Fails ? "**" + c.Outcome + "**" : c.Outcome.ToString())} | {c.Note} |");
        return sb.ToString();
    }

    private static string BaselineCell(MetricCheck c) => c switch
    {
        { Baseline: null } => "",
        { BaselineSd: { } sd } => $"{Num(c.Baseline)} ± {Num(sd)} ({c.BaselineN})",
        _ => $"{Num(c.Baseline)} ({c.BaselineN ?? 1})",
    };

    internal static string Num(double? v, bool signed = false) => v switch
    {
        null => "",
        { } x when double.IsNaN(x) => "NaN",
        { } x => (signed && x > 0 ? "+" : "") + x.ToString("G6", CultureInfo.InvariantCulture),
    };
}
