using System.Globalization;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Stages;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Tests.Seeds;

public sealed class ClaimTrainParams
{
    public string Variant { get; set; } = "";
    public long Seed { get; set; } = 1;
    /// <summary>How much higher the intermediate variants' CLIP Score and lower their FID are, in metric units.</summary>
    public double Effect { get; set; }
    /// <summary>The seed-to-seed standard deviation of every variant's metrics (drawn per variant and seed).</summary>
    public double Noise { get; set; } = 1;
}

/// <summary>
/// A training stand-in whose "model" is its metrics: CLIP Score 20 + effect (intermediate variants) + noise·z and FID
/// 50 − effect + noise·z', z and z' standard normal draws of (variant, seed). It writes the loss curve the report
/// reads and the metrics into model.txt, so the report judges a known truth in milliseconds.
/// </summary>
public sealed class ClaimTrainStage : StageKind<ClaimTrainParams>
{
    public override string Name => "claim-train";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["loss.parquet", "model.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ClaimTrainParams p)
    {
        var random = new Random((int)(p.Seed * 7919 + p.Variant.Sum(c => c * 31)));
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var shift = p.Variant.StartsWith("intermediate", StringComparison.Ordinal) ? p.Effect : 0;
        var (clip, fid) = (20 + shift + p.Noise * Normal(), 50 - shift + p.Noise * Normal());
        await RecordsTable.WriteAsync(context.OutputPath("loss.parquet"), [new LossRecord { Step = 1, Loss = 1 }, new LossRecord { Step = 2, Loss = 0.5 }], ct: context.CancellationToken);
        await File.WriteAllTextAsync(context.OutputPath("model.txt"), string.Create(CultureInfo.InvariantCulture, $"{clip:R} {fid:R}"), context.CancellationToken);
    }
}

/// <summary>Evaluates a claim-train model: its metrics, and a bootstrap whose replicates spread ±0.1 around them.</summary>
public sealed class ClaimEvaluateStage : StageKind<ClaimEvaluateParams>
{
    public override string Name => "claim-evaluate";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("model")];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet", SampleBootstrap.FileName];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ClaimEvaluateParams _)
    {
        var ct = context.CancellationToken;
        var values = (await File.ReadAllTextAsync(await context.Input("model").GetPathAsync("model.txt", ct), ct)).Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"), [new MetricRow("clip_score", values[0], ""), new MetricRow("fid", values[1], "")], ct: ct);
        double[] Reps(double v) => [v - 0.1, v, v + 0.1, v - 0.05, v + 0.05];
        await new SampleBootstrap(16, 5, 1, "toy", new Dictionary<string, double[]> { ["clip_score"] = Reps(values[0]), ["fid"] = Reps(values[1]) }).WriteAsync(context.OutputPath(SampleBootstrap.FileName), ct);
    }
}

public sealed class ClaimEvaluateParams;

/// <summary>Exact figures and six timing rounds per variant (every variant equally fast), as the measure stage writes them.</summary>
public sealed class ClaimMeasureStage : StageKind<ClaimEvaluateParams>
{
    public override string Name => "claim-measure";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("model", Many: true)];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet", TimingRecord.FileName];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ClaimEvaluateParams _)
    {
        var variants = context.Inputs["model"].Select(a => Fusion.Workflow.Pipelines.SeedAxis.Split(NodeDefinition.VariantOf(a.NodeId)).Variant!).Distinct().ToList();
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"), variants.SelectMany(v => new[]
        {
            new MetricRow("parameters", 1000, "", new Dictionary<string, string> { ["variant"] = v }),
            new MetricRow("forward_gmacs", v.StartsWith("intermediate", StringComparison.Ordinal) ? 0.8 : 1.0, "", new Dictionary<string, string> { ["variant"] = v }),
        }), ct: context.CancellationToken);
        await RecordsTable.WriteAsync(context.OutputPath(TimingRecord.FileName),
            variants.SelectMany(v => Enumerable.Range(0, 6).Select(r => new TimingRecord { Variant = v, Metric = TimingRecord.Train, Round = r, PerSecond = 1 + 0.01 * r })), ct: context.CancellationToken);
    }

    public static StageRegistry Registry() =>
        new StageRegistry().Add(new ClaimTrainStage()).Add(new ClaimEvaluateStage()).Add(new ClaimMeasureStage()).Add(new ReportStage());

    /// <summary>The shapes pipeline's shape with the paper's pair: train, evaluate, measure and report.</summary>
    public static string Pipeline(double effect, double noise, string reportParams = "") => $$"""
        stages:
          train:
            kind: claim-train
            params: {effect: {{effect.ToString(CultureInfo.InvariantCulture)}}, noise: {{noise.ToString(CultureInfo.InvariantCulture)}}}
            variants: [early-concat, intermediate-cross]
            seeds: [1]
          evaluate:
            kind: claim-evaluate
            variants: train
            inputs: {model: train}
          measure:
            kind: claim-measure
            inputs: {model: "train[*]"}
          report:
            kind: report
            inputs: {train: "train[*]", measure: measure, evaluate: "evaluate[*]"}
            params: {title: toy{{reportParams}}}
        """;
}
