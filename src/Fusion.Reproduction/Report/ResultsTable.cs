using System.Globalization;
using System.Text;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The results table: a row per variant, a cell per column holding an estimate with its 95 % interval (over seeds, or
/// over evaluation samples for a single seed; exact figures have none), and its CSV and Parquet forms; and the claims CSV.
/// </summary>
public sealed class ResultsTable(StudyResults study)
{
    public static readonly string[] AlignmentKeys = ["alignment_all", "alignment_count", "alignment_colour", "alignment_shape", "alignment_binding", "alignment_relation"];

    public static readonly string[] Columns = ["parameters", "forward_gmacs", "forward_gmacs_without_attention", TimingRecord.Train, TimingRecord.Sample, "final_loss", "fid", "clip_score", "clip_s", .. AlignmentKeys];

    public IReadOnlyList<string> Variants { get; } = study.Variants.ToList();

    public Interval? Cell(string variant, string column) => column switch
    {
        "parameters" or "forward_gmacs" or "forward_gmacs_without_attention" =>
            study.Exact.TryGetValue(variant, out var e) && e.TryGetValue(column, out var x) ? Interval.Point(x, 1, "exact") : null,
        TimingRecord.Train => Estimates.Rate(study.Timing, variant, train: true),
        TimingRecord.Sample => Estimates.Rate(study.Timing, variant, train: false),
        _ => Estimates.PerVariant(study, variant, column),
    };

    /// <summary>results.csv: each column's estimate, lo, hi and n.</summary>
    public string Csv()
    {
        var csv = new StringBuilder("variant," + string.Join(",", Columns.SelectMany(c => new[] { c, c + "_lo", c + "_hi", c + "_n" })) + "\n");
        foreach (var v in Variants)
            csv.AppendLine(v + "," + string.Join(",", Columns.Select(c => Cell(v, c) is { } x ? $"{Num(x.Estimate)},{Num(x.Lo)},{Num(x.Hi)},{x.N}" : ",,,")));
        return csv.ToString();
    }

    /// <summary>results.parquet: a metric row per filled cell, labelled with its variant and interval.</summary>
    public IEnumerable<MetricRow> Rows() =>
        Variants.SelectMany(v => Columns.Select(c => (c, x: Cell(v, c))).Where(t => t.x is not null).Select(t => new MetricRow(t.c, t.x!.Estimate, "",
            new Dictionary<string, string> { ["variant"] = v, ["lo"] = Num(t.x.Lo), ["hi"] = Num(t.x.Hi), ["n"] = t.x.N.ToString(CultureInfo.InvariantCulture), ["interval"] = t.x.Method })));

    /// <summary>claims.csv: a line per claim and comparison with its verdict, rule and interval.</summary>
    public static string ClaimsCsv(IReadOnlyList<ClaimRow> claims)
    {
        var csv = new StringBuilder("claim,comparison,scope,measurement,verdict,rule,estimate,lo,hi,n,interval,threshold,margin,caveat\n");
        foreach (var c in claims)
            csv.AppendLine(string.Join(",", new[] { c.Claim, c.Comparison, c.Headline ? "headline" : "breakdown", c.Measurement, Claims.Label(c.Verdict), c.Rule,
                c.Interval is { } x ? Num(x.Estimate) : "", c.Interval is { } l ? Num(l.Lo) : "", c.Interval is { } h ? Num(h.Hi) : "",
                c.Interval?.N.ToString(CultureInfo.InvariantCulture) ?? "", c.Interval?.Method ?? "", Num(c.Threshold), c.Margin is { } d ? Num(d) : "",
                c.Interval?.Caveat ?? "" }.Select(Field)));
        return csv.ToString();
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    private static string Field(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
