using System.Globalization;
using System.Text;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Report;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

public sealed class ReportParams
{
    public string Title { get; set; } = "Intermediate vs early fusion";
}

/// <summary>
/// Aggregates every variant's metrics into the results table (Markdown, CSV, Parquet), judges the paper's claims, draws
/// the plots and copies the sample grids; <c>report.md</c> links them all. Every number comes from an upstream
/// metrics artifact; the report only arranges them.
/// </summary>
public sealed class ReportStage : StageKind<ReportParams>
{
    public override string Name => "report";
    public override string CodeVersion => "2";
    public override IReadOnlyList<StageInput> Inputs =>
        [new("train", Many: true), new("measure", Many: true), new("evaluate", Many: true, Optional: true), new("sample", Many: true, Optional: true),
         new("reference", Optional: true)];
    public override IReadOnlyList<string> Outputs => ["report.md", "report.html", "results.csv", "results.parquet", "claims.csv"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public static readonly string[] AlignmentKeys = ["alignment_all", "alignment_count", "alignment_colour", "alignment_shape", "alignment_binding", "alignment_relation"];

    public override async Task RunAsync(StageContext context, ReportParams p)
    {
        var ct = context.CancellationToken;
        var rows = new SortedDictionary<string, Dictionary<string, MetricRow>>(StringComparer.Ordinal);
        async Task Collect(string input, string file)
        {
            if (!context.Inputs.TryGetValue(input, out var list)) return;
            foreach (var a in list)
            {
                var variant = VariantOf(a.NodeId);
                var metrics = rows.TryGetValue(variant, out var m) ? m : rows[variant] = new Dictionary<string, MetricRow>();
                foreach (var r in await MetricsTable.ReadAsync(await a.GetPathAsync(file, ct), ct)) metrics[r.Name] = r;
            }
        }
        await Collect("measure", "metrics.parquet");
        await Collect("evaluate", "metrics.parquet");

        var losses = new List<Series>();
        foreach (var a in context.Inputs["train"])
        {
            var points = new List<(double, double)>();
            await foreach (var r in RecordsTable.ReadAsync<LossRecord>(await a.GetPathAsync("loss.parquet", ct), ct)) points.Add((r.Step, r.Loss));
            losses.Add(new Series(VariantOf(a.NodeId), points));
            if (points.Count > 0 && rows.TryGetValue(VariantOf(a.NodeId), out var m)) m["final_loss"] = new MetricRow("final_loss", points[^1].Item2, "");
        }
        Dictionary<string, MetricRow>? reference = null;
        if (context.Inputs.TryGetValue("reference", out var refs) && refs.Count == 1)
            reference = (await MetricsTable.ReadAsync(await refs[0].GetPathAsync("metrics.parquet", ct), ct)).ToDictionary(r => r.Name);

        double? Get(string variant, string name) => rows.TryGetValue(variant, out var m) && m.TryGetValue(name, out var r) ? r.Value : null;
        var results = rows.Keys.Select(v => new VariantResult(v,
            Parameters: Get(v, "parameters") is { } pc ? (long)pc : null, ForwardGMacs: Get(v, "forward_gmacs"),
            TrainStepsPerSecond: Get(v, "train_steps_per_second"), SamplesPerSecond: Get(v, "sample_images_per_second"),
            Fid: Get(v, "fid"), ClipScore: Get(v, "clip_score"),
            Alignment: AlignmentKeys.Where(k => Get(v, k) is not null).ToDictionary(k => k, k => Get(v, k)!.Value))).ToList();
        var claims = Claims.Evaluate(results);

        // Tables.
        string[] columns = ["parameters", "forward_gmacs", "forward_gmacs_without_attention", "train_steps_per_second", "sample_images_per_second", "final_loss", "fid", "clip_score", "clip_s", .. AlignmentKeys];
        var csv = new StringBuilder("variant," + string.Join(",", columns) + "\n");
        foreach (var v in rows.Keys) csv.AppendLine(v + "," + string.Join(",", columns.Select(c => Get(v, c)?.ToString("R", CultureInfo.InvariantCulture) ?? "")));
        await File.WriteAllTextAsync(context.OutputPath("results.csv"), csv.ToString(), ct);
        await MetricsTable.WriteAsync(context.OutputPath("results.parquet"),
            rows.SelectMany(kv => kv.Value.Values.Select(r => r with { Labels = new Dictionary<string, string>(r.Labels ?? new Dictionary<string, string>()) { ["variant"] = kv.Key } })), ct: ct);
        var claimsCsv = new StringBuilder("claim,measurement,verdict,rule\n");
        foreach (var c in claims) claimsCsv.AppendLine(string.Join(",", new[] { c.Claim, c.Measurement, Claims.Label(c.Verdict), c.Rule }.Select(Csv)));
        await File.WriteAllTextAsync(context.OutputPath("claims.csv"), claimsCsv.ToString(), ct);

        // Plots and grids.
        var images = new List<(string Title, string File)>();
        async Task Png(string file, string title, byte[] png) { await File.WriteAllBytesAsync(context.OutputPath(file), png, ct); images.Add((title, file)); }
        if (losses.Any(s => s.Points.Count > 0)) await Png("loss.png", "Training loss", Chart.Line("Training loss (ε-prediction MSE)", "step", "loss", losses, logY: true));
        async Task Bars(string metric, string file, string title, string unit)
        {
            var bars = rows.Keys.Where(v => Get(v, metric) is not null).Select(v => (v, Get(v, metric)!.Value)).ToList();
            if (bars.Count > 0) await Png(file, title, Chart.Bars(title, unit, bars));
        }
        await Bars("forward_gmacs", "gmacs.png", "Forward GMACs (batch 1, with attention)", "GMAC");
        await Bars("train_steps_per_second", "train-speed.png", "Training speed", "steps/s");
        await Bars("fid", "fid.png", "FID (lower is better)", "FID");
        await Bars("clip_score", "clip-score.png", "CLIP Score (higher is better)", "100·cos");
        await Bars("alignment_all", "alignment.png", "Exact alignment: all attributes correct", "fraction");
        var grids = new List<(string Variant, string File)>();
        if (context.Inputs.TryGetValue("sample", out var samples))
            foreach (var a in samples)
            {
                var file = $"grid-{VariantOf(a.NodeId)}.png";
                File.Copy(await a.GetPathAsync("grid.png", ct), context.OutputPath(file));
                grids.Add((VariantOf(a.NodeId), file));
            }

        var md = Markdown(p.Title, context, rows.Keys.ToList(), columns, Get, reference, claims, images, grids,
            rows.Values.SelectMany(m => m.Values).FirstOrDefault(r => r.Name == "clip_score")?.Label("convention"),
            rows.Values.SelectMany(m => m.Values).FirstOrDefault(r => r.Name == "fid")?.Label("features"));
        await File.WriteAllTextAsync(context.OutputPath("report.md"), md, ct);
        await File.WriteAllTextAsync(context.OutputPath("report.html"), HtmlReport.Render(md, Path.GetDirectoryName(context.OutputPath("report.md"))!), ct);
        foreach (var c in claims) context.Summary[c.Claim] = Claims.Label(c.Verdict);
    }

    private static string Markdown(string title, StageContext context, List<string> variants, string[] columns, Func<string, string, double?> get,
        Dictionary<string, MetricRow>? reference, IReadOnlyList<ClaimRow> claims, List<(string Title, string File)> images, List<(string Variant, string File)> grids,
        string? clipConvention, string? fidFeatures)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        md.AppendLine($"Hu, Jia, Rostami — *An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion Models* (arXiv 2403.16530), reproduced by `fusion`.").AppendLine();
        md.AppendLine($"Generated {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by node `{context.NodeId}`; environment: " +
                      string.Join(", ", context.Environment.Values.OrderBy(k => k.Key).Select(kv => $"{kv.Key} {kv.Value}")) + ".").AppendLine();
        md.AppendLine("## Claims").AppendLine();
        md.AppendLine("| claim | measurement | verdict | rule |").AppendLine("|---|---|---|---|");
        foreach (var c in claims) md.AppendLine($"| {c.Claim} | {c.Measurement} | **{Claims.Label(c.Verdict)}** | {c.Rule} |");
        md.AppendLine().AppendLine("## Results").AppendLine();
        var shown = columns.Where(c => variants.Any(v => get(v, c) is not null)).ToList();
        md.AppendLine("| variant | " + string.Join(" | ", shown.Select(Header)) + " |");
        md.AppendLine("|---|" + string.Join("", shown.Select(_ => "---:|")));
        foreach (var v in variants) md.AppendLine($"| {v} | " + string.Join(" | ", shown.Select(c => Format(c, get(v, c)))) + " |");
        if (reference is not null)
            md.AppendLine("| *real val images* | " + string.Join(" | ", shown.Select(c => reference.TryGetValue(c, out var r) ? Format(c, r.Value) : "")) + " |");
        md.AppendLine();
        if (clipConvention is not null) md.AppendLine($"CLIP Score convention: {clipConvention}.");
        if (fidFeatures is not null) md.AppendLine($"FID feature space: {fidFeatures}.");
        md.AppendLine("GMACs are multiply–accumulates of one forward pass at batch 1 (1 MAC = 2 FLOPs); speeds were measured on this run's device, so compare them only within this report.").AppendLine();
        if (images.Count > 0)
        {
            md.AppendLine("## Plots").AppendLine();
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

    private static string Header(string c) => c.Replace('_', ' ');

    private static string Format(string column, double? v) => v switch
    {
        null => "",
        { } x when column == "parameters" => x.ToString("N0", CultureInfo.InvariantCulture),
        { } x when column.StartsWith("alignment", StringComparison.Ordinal) => (100 * x).ToString("F1", CultureInfo.InvariantCulture) + " %",
        { } x => x.ToString(Math.Abs(x) >= 100 ? "F1" : Math.Abs(x) >= 1 ? "F3" : "G4", CultureInfo.InvariantCulture),
    };

    private static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    /// <summary>"train[early-concat]" → "early-concat"; a node without a variant is its own name.</summary>
    public static string VariantOf(string nodeId)
    {
        var open = nodeId.IndexOf('[');
        return open >= 0 && nodeId.EndsWith(']') ? nodeId[(open + 1)..^1] : nodeId;
    }
}
