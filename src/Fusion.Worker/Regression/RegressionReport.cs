using System.Globalization;
using System.Text;

namespace Fusion.Worker.Regression;

/// <summary>How one metric compared. Regressed, Missing and Incomparable fail the check; the others pass.</summary>
public enum MetricOutcome { Within, Improved, New, Regressed, Missing, Incomparable }

/// <summary>Overall verdict. Only Passed is a pass; Incomparable (missing metric, NaN, no baseline…) is a failure.</summary>
public enum Verdict { Passed, Regressed, Incomparable }

/// <summary>One row of a report. <see cref="Delta"/> is current − baseline; <see cref="Allowed"/> the tolerance used.</summary>
public sealed record MetricCheck(
    string Metric, string Unit, double? Baseline, double? Current, double? Delta, double? Allowed, Better? Better,
    MetricOutcome Outcome, string Note)
{
    public bool Fails => Outcome is MetricOutcome.Regressed or MetricOutcome.Missing or MetricOutcome.Incomparable;
}

/// <summary>The result of comparing one run to a baseline: written as JSON and Markdown, and posted to the webhook.</summary>
public sealed record RegressionReport(
    string RunId, string BaselineName, string? BaselineRunId, DateTimeOffset CheckedUtc, Verdict Verdict,
    IReadOnlyList<MetricCheck> Checks, string? Problem = null)
{
    public bool Passed => Verdict == Verdict.Passed;

    /// <summary>One line for logs, statuses and chat: "nightly-2026-11-26: REGRESSED vs nightly (run …): fid +1.2 > 0.5".</summary>
    public string Summary
    {
        get
        {
            var failing = Checks.Where(c => c.Fails).Select(c => $"{c.Metric} {c.Outcome.ToString().ToLowerInvariant()}"
                + (c.Delta is { } d && c.Allowed is { } a && c.Outcome == MetricOutcome.Regressed ? $" ({Num(d, true)} beyond ±{Num(a)})" : "")).ToList();
            if (Problem is not null) failing.Insert(0, Problem);
            var tail = failing.Count > 0 ? ": " + string.Join("; ", failing) : $" ({Checks.Count(c => !c.Fails)} metrics within tolerance)";
            return $"{RunId}: {Verdict.ToString().ToUpperInvariant()} against baseline '{BaselineName}'{(BaselineRunId is null ? "" : $" (run {BaselineRunId})")}{tail}";
        }
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        var icon = Verdict == Verdict.Passed ? "✅" : Verdict == Verdict.Regressed ? "❌" : "⚠️";
        sb.AppendLine($"# Regression check: {RunId} — {icon} {Verdict}");
        sb.AppendLine();
        sb.AppendLine($"Baseline **{BaselineName}**{(BaselineRunId is null ? " (none blessed)" : $" = run `{BaselineRunId}`")}, checked {CheckedUtc:yyyy-MM-dd HH:mm:ss} UTC.");
        if (Problem is not null) sb.AppendLine().AppendLine($"**{Problem}**");
        sb.AppendLine();
        sb.AppendLine("| metric | unit | baseline | current | Δ | tolerance | better | result | note |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|---|---|");
        foreach (var c in Checks)
            sb.AppendLine($"| {c.Metric} | {c.Unit} | {Num(c.Baseline)} | {Num(c.Current)} | {Num(c.Delta, true)} | {(c.Allowed is { } a ? "±" + Num(a) : "")} | " +
                          $"{c.Better?.ToString().ToLowerInvariant()} | {(c.Fails ? "**" + c.Outcome + "**" : c.Outcome.ToString())} | {c.Note} |");
        return sb.ToString();
    }

    private static string Num(double? v, bool signed = false) => v switch
    {
        null => "",
        { } x when double.IsNaN(x) => "NaN",
        { } x => (signed && x > 0 ? "+" : "") + x.ToString("G6", CultureInfo.InvariantCulture),
    };
}
