using System.Globalization;
using System.Text;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Report;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

public sealed class ReportParams
{
    public string Title { get; set; } = "Intermediate vs early fusion";

    /// <summary>Practical-equivalence margin δ of the CLIP Score difference (100·cos points).</summary>
    [ParamRange(Above = 0)]
    public double ClipScoreMargin { get; set; } = 1.0;

    /// <summary>Practical-equivalence margin δ of the FID difference.</summary>
    [ParamRange(Above = 0)]
    public double FidMargin { get; set; } = 1.0;

    /// <summary>Practical-equivalence margin δ of an alignment accuracy difference (a fraction: 0.05 = 5 points).</summary>
    [ParamRange(Above = 0, Below = 1)]
    public double AlignmentMargin { get; set; } = 0.05;

    /// <summary>A stored seed spread (<c>fusion calibrate</c>'s file; its text is the param): one-seed quality verdicts of its recipe use it.</summary>
    [ParamFile]
    public string? SeedSpread { get; set; }

    /// <summary>
    /// &gt; 0: the runs come from a sequential design of at most this many seeds (<c>fusion run --until-decided</c>),
    /// whose looks judge at their spent levels; 0: a fixed design at 95 %.
    /// </summary>
    [ParamRange(Min = 0)]
    public int MaxSeeds { get; set; }

    /// <summary>Why a sequential run stopped before its claims were decided (set by the run that stopped it).</summary>
    public string? StopReason { get; set; }

    public EquivalenceMargins Margins => new(ClipScoreMargin, FidMargin, AlignmentMargin);
}

/// <summary>
/// Aggregates every variant's metrics into the results table (Markdown, CSV, Parquet) with 95 % intervals (over seeds,
/// or over evaluation samples for a single seed), judges the paper's claims three-way, draws the plots with error bars
/// and copies the sample grids; <c>report.md</c> links them all. Every number comes from an upstream metrics,
/// bootstrap or timing artifact; the report only arranges them and computes their intervals.
/// </summary>
[UsesPackages("Parquet.Net", "MathNet.Numerics", "Markdig", "ScottPlot", "SkiaSharp", "SkiaSharp.NativeAssets.Linux.NoDependencies")]
public sealed class ReportStage : StageKind<ReportParams>
{
    public override string Name => "report";
    public override string CodeVersion => "4";
    public override IReadOnlyList<StageInput> Inputs =>
        [new("train", Many: true), new("measure", Many: true), new("evaluate", Many: true, Optional: true), new("sample", Many: true, Optional: true),
         new("reference", Optional: true)];
    public override IReadOnlyList<string> Outputs => ["report.md", "report.html", "results.csv", "results.parquet", "claims.csv"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ReportParams p)
    {
        var ct = context.CancellationToken;
        var inputs = await LoadAsync(context, ct);
        var study = inputs.Study(p.SeedSpread, p.MaxSeeds);
        var claims = Claims.Evaluate(study, p.Margins);
        var table = new ResultsTable(study);
        await File.WriteAllTextAsync(context.OutputPath("results.csv"), table.Csv(), ct);
        await MetricsTable.WriteAsync(context.OutputPath("results.parquet"), table.Rows(), ct: ct);
        await File.WriteAllTextAsync(context.OutputPath("claims.csv"), ResultsTable.ClaimsCsv(claims), ct);
        var (forest, images) = await WritePlotsAsync(context, table, claims, inputs.Losses, ct);
        var grids = await CopyGridsAsync(context, ct);

        var md = new ReportMarkdown(p.Title, context, study, table.Variants, ResultsTable.Columns, table.Cell, inputs.Reference, claims, p.Margins, p.StopReason, forest, images, grids,
            inputs.LabelOf("clip_score", "convention"), inputs.LabelOf("fid", "features")).Render();
        await File.WriteAllTextAsync(context.OutputPath("report.md"), md, ct);
        await File.WriteAllTextAsync(context.OutputPath("report.html"), HtmlReport.Render(md, Path.GetDirectoryName(context.OutputPath("report.md"))!), ct);
        foreach (var c in claims) context.Summary[$"{c.Claim} [{c.Comparison}]"] = Claims.Label(c.Verdict);
        context.Summary[UndecidedKey] = claims.Count(c => c.Headline && c.Quality && c.Undecided).ToString(CultureInfo.InvariantCulture);
    }

    private static async Task<ReportInputs> LoadAsync(StageContext context, CancellationToken ct)
    {
        var runMetrics = new SortedDictionary<string, Dictionary<string, MetricRow>>(StringComparer.Ordinal);
        Dictionary<string, MetricRow> RunOf(string name) => runMetrics.TryGetValue(name, out var m) ? m : runMetrics[name] = new Dictionary<string, MetricRow>();
        var bootstraps = new Dictionary<string, SampleBootstrap>(StringComparer.Ordinal);
        var recipes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (context.Inputs.TryGetValue("evaluate", out var evaluations))
            foreach (var a in evaluations)
            {
                var name = NodeDefinition.VariantOf(a.NodeId);
                foreach (var r in await MetricsTable.ReadAsync(await a.GetPathAsync("metrics.parquet", ct), ct)) RunOf(name)[r.Name] = r;
                bootstraps[name] = await SampleBootstrap.ReadAsync(await a.GetPathAsync(SampleBootstrap.FileName, ct), ct);
                if (a.Recipe is { } recipe) recipes[name] = recipe;
            }
        var losses = new List<Series>();
        foreach (var a in context.Inputs["train"])
        {
            var points = new List<(double, double)>();
            await foreach (var r in RecordsTable.ReadAsync<LossRecord>(await a.GetPathAsync("loss.parquet", ct), ct)) points.Add((r.Step, r.Loss));
            losses.Add(new Series(NodeDefinition.VariantOf(a.NodeId), points));
            if (points.Count > 0) RunOf(NodeDefinition.VariantOf(a.NodeId))["final_loss"] = new MetricRow("final_loss", points[^1].Item2, "");
        }
        var exact = new SortedDictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        TimingRounds? timing = null;
        foreach (var a in context.Inputs["measure"]) timing = await LoadMeasureAsync(a, exact, ct);
        Dictionary<string, MetricRow>? reference = null;
        if (context.Inputs.TryGetValue("reference", out var refs) && refs.Count == 1)
            reference = (await MetricsTable.ReadAsync(await refs[0].GetPathAsync("metrics.parquet", ct), ct)).ToDictionary(r => r.Name);
        return new ReportInputs(runMetrics, bootstraps, recipes, losses, exact, timing, reference);
    }

    /// <summary>A measure node's exact figures (into <paramref name="exact"/>, by variant) and its timing rounds.</summary>
    private static async Task<TimingRounds> LoadMeasureAsync(InputArtifact a, SortedDictionary<string, IReadOnlyDictionary<string, double>> exact, CancellationToken ct)
    {
        var rows = await MetricsTable.ReadAsync(await a.GetPathAsync("metrics.parquet", ct), ct);
        foreach (var g in rows.GroupBy(r => r.Label("variant") ?? throw new InvalidDataException($"{a.NodeId}: metric '{r.Name}' has no variant label")))
            exact[g.Key] = g.Where(r => r.Name is "parameters" or "forward_gmacs" or "forward_gmacs_without_attention").ToDictionary(r => r.Name, r => r.Value);
        var rounds = new List<TimingRecord>();
        await foreach (var r in RecordsTable.ReadAsync<TimingRecord>(await a.GetPathAsync(TimingRecord.FileName, ct), ct)) rounds.Add(r);
        IReadOnlyDictionary<string, double[]> Rates(string metric) => rounds.Where(r => r.Metric == metric).GroupBy(r => r.Variant)
            .ToDictionary(g => g.Key, g => g.OrderBy(r => r.Round).Select(r => r.PerSecond).ToArray());
        var first = rows.FirstOrDefault();
        var machine = first is null ? "unknown machine" :
            $"{first.Label("device")} ({first.Label("precision")}), CPU {first.Label("cpu")} with {first.Label("cores")} logical cores, " +
            $"1-minute load average {first.Label("load_before")} before and {first.Label("load_after")} after, {first.Label("rounds")} interleaved rounds in {a.NodeId}";
        return new TimingRounds(Rates(TimingRecord.Train), Rates(TimingRecord.Sample), machine);
    }

    /// <summary>The forest plot of the claims and the bar charts (with their 95 % intervals); returns the forest's file and the charts.</summary>
    private static async Task<(string? Forest, List<(string Title, string File)> Images)> WritePlotsAsync(StageContext context, ResultsTable table,
        IReadOnlyList<ClaimRow> claims, IReadOnlyList<Series> losses, CancellationToken ct)
    {
        var images = new List<(string Title, string File)>();
        async Task Png(string file, string title, byte[] png) { await File.WriteAllBytesAsync(context.OutputPath(file), png, ct); images.Add((title, file)); }
        string? forest = null;
        if (ForestOf(claims) is { Count: > 0 } panels)
            await File.WriteAllBytesAsync(context.OutputPath(forest = ForestFile), Chart.Forest($"Claims against {Claims.Baseline}", panels), ct);
        if (losses.Any(s => s.Points.Count > 0)) await Png("loss.png", "Training loss", Chart.Line("Training loss (MSE of each model's target, ε or v, with its weighting)", "step", "loss", losses, logY: true));
        async Task Bars(string metric, string file, string title, string unit)
        {
            var cells = table.Variants.Select(v => (v, x: table.Cell(v, metric))).Where(t => t.x is not null).ToList();
            if (cells.Count > 0) await Png(file, title, Chart.Bars(title, unit, cells.Select(t => (t.v, t.x!.Estimate)).ToList(), cells.Select(t => (t.x!.Lo, t.x.Hi)).ToList()));
        }
        await Bars("forward_gmacs", "gmacs.png", "Forward GMACs (batch 1, with attention)", "GMAC");
        await Bars(TimingRecord.Train, "train-speed.png", "Training speed (median of interleaved rounds, 95 % interval)", "steps/s");
        await Bars("fid", "fid.png", "FID (lower is better, 95 % interval)", "FID");
        await Bars("clip_score", "clip-score.png", "CLIP Score (higher is better, 95 % interval)", "100·cos");
        await Bars("alignment_all", "alignment.png", "Exact alignment: all attributes correct (95 % interval)", "fraction");
        return (forest, images);
    }

    /// <summary>Each sample node's grid, copied under a name per variant.</summary>
    private static async Task<List<(string Variant, string File)>> CopyGridsAsync(StageContext context, CancellationToken ct)
    {
        var grids = new List<(string Variant, string File)>();
        if (context.Inputs.TryGetValue("sample", out var samples))
            foreach (var a in samples)
            {
                // A seed's name holds '/' and '='; the file name must not.
                var file = $"grid-{NodeDefinition.VariantOf(a.NodeId).Replace("/seed=", "-seed")}.png";
                File.Copy(await a.GetPathAsync("grid.png", ct), context.OutputPath(file));
                grids.Add((NodeDefinition.VariantOf(a.NodeId), file));
            }
        return grids;
    }

    /// <summary>Summary key: how many headline quality claims are inconclusive (neither supported, not supported nor equivalent).</summary>
    public const string UndecidedKey = "undecided";

    public const string ForestFile = "forest.png";

    /// <summary>The forest plot's panels: one per claim, a row per headline comparison (named by its intermediate variant) that has an estimate.</summary>
    public static IReadOnlyList<ForestPanel> ForestOf(IReadOnlyList<ClaimRow> claims) =>
        claims.Where(c => c.Headline && c.Interval is { } x && double.IsFinite(x.Estimate)).GroupBy(c => c.Claim)
            .Select(g => new ForestPanel(g.Key, g.First().Axis, g.First().Threshold, g.First().Margin,
                g.Select(c => new ForestRow(c.Comparison.Split(" vs ")[0], c.Interval!.Estimate, c.Interval.Lo, c.Interval.Hi, Claims.Label(c.Verdict))).ToList()))
            .ToList();
}
