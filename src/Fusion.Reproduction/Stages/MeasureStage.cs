using System.Globalization;
using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Modeling;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

public sealed class MeasureParams
{
    /// <summary>Batch of the timed train steps (set it to the training batch; default the reference's).</summary>
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = TrainConfig.Reference.BatchSize;
    /// <summary>Untimed train steps per variant before the first round.</summary>
    [ParamRange(Min = 0)]
    public int WarmupSteps { get; set; } = 2;
    /// <summary>Timed train steps per variant and round.</summary>
    [ParamRange(Min = 1)]
    public int TimedSteps { get; set; } = 10;
    /// <summary>Interleaved rounds; 6 is the fewest whose median has a 95 % order-statistic interval.</summary>
    [ParamRange(Min = 2)]
    public int Rounds { get; set; } = 6;
    /// <summary>float32 or b-float16-mixed; unset = from the run's --dtype.</summary>
    public TrainPrecision? Precision { get; set; }
    /// <summary>Images per timed sampling batch (one batch per variant and round).</summary>
    [ParamRange(Min = 1)]
    public int SampleBatch { get; set; } = 16;
    /// <summary>Model evaluations per sample (the reference's 50), with guidance (two forward passes per evaluation).</summary>
    [ParamRange(Min = 1)]
    public int SampleSteps { get; set; } = SamplerOptions.Reference.Steps;
    public long Seed { get; set; } = 99;
}

/// <summary>
/// The efficiency figures of all variants, measured in one node so they share the machine's state: parameters and
/// analytic forward GMACs (batch 1, with and without the attention matmuls; exact), then train steps/s and sampling
/// images/s in interleaved rounds (<see cref="InterleavedRounds"/>) after warm-up. <c>rounds.parquet</c> holds every
/// round's rate, <c>metrics.parquet</c> each variant's exact figures and median rates (label <c>variant</c>), with the
/// CPU model and load average before and after. Wall-clock numbers depend on the machine: compare variants only
/// within one run. Timing needs only the architecture, so a variant trained under several seeds is timed once.
/// </summary>
[UsesPackages("Parquet.Net")]
public sealed class MeasureStage : StageKind<MeasureParams>
{
    public override string Name => "measure";
    public override string CodeVersion => "2";
    public override IReadOnlyList<StageInput> Inputs => [new("model", Many: true)];
    public override IReadOnlyList<string> Outputs => ["metrics.parquet", TimingRecord.FileName];

    public override async Task RunAsync(StageContext context, MeasureParams p)
    {
        var ct = context.CancellationToken;
        var models = new SortedDictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var input in context.Inputs["model"])
        {
            var variant = SeedAxis.Split(NodeDefinition.VariantOf(input.NodeId)).Variant ?? input.NodeId;
            if (!models.ContainsKey(variant)) models[variant] = ModelSpec.Load(await input.GetPathAsync(ModelSpec.FileName, ct));
        }
        var variants = models.Keys.ToList();
        var precision = p.Precision ?? TrainPrecisions.Of(context.Environment.Dtype);
        var before = MachineSnapshot.Take();

        var timers = new List<VariantTimer>();
        double[][] train, sample;
        try
        {
            foreach (var v in variants)
            {
                var spec = models[v];
                var timer = new VariantTimer(spec.ToConfig(), spec.DataKind, p.BatchSize, precision, context.Environment.Device, p.SampleBatch, p.Seed);
                timers.Add(timer);
                timer.WarmUp(p.WarmupSteps);
            }
            var units = 2 * p.Rounds * variants.Count;
            train = InterleavedRounds.Run(variants.Count, p.Rounds, c => timers[c].TrainStepsPerSecond(p.TimedSteps, ct: ct),
                done => context.Progress.Report(done, units, "unit"), ct);
            sample = InterleavedRounds.Run(variants.Count, p.Rounds, c => timers[c].SampleImagesPerSecond(p.SampleSteps),
                done => context.Progress.Report(p.Rounds * variants.Count + done, units, "unit"), ct);
        }
        finally
        {
            foreach (var t in timers) t.Dispose();
        }
        var after = MachineSnapshot.Take();

        await RecordsTable.WriteAsync(context.OutputPath(TimingRecord.FileName), variants.SelectMany((v, i) =>
            train[i].Select((rate, r) => new TimingRecord { Variant = v, Metric = TimingRecord.Train, Round = r, PerSecond = rate })
                .Concat(sample[i].Select((rate, r) => new TimingRecord { Variant = v, Metric = TimingRecord.Sample, Round = r, PerSecond = rate }))), ct: ct);

        var rows = new List<MetricRow>();
        for (var i = 0; i < variants.Count; i++)
        {
            var config = models[variants[i]].ToConfig();
            var macs = UViTFlops.Forward(config);
            long parameters;
            using (var probe = TorchRandom.Unseeded(() => new UViT(config))) parameters = probe.ParameterCount();
            var labels = new Dictionary<string, string>
            {
                ["variant"] = variants[i], ["device"] = context.Environment.Device, ["precision"] = precision.ToString(), ["batch"] = p.BatchSize.ToString(CultureInfo.InvariantCulture),
                ["rounds"] = p.Rounds.ToString(CultureInfo.InvariantCulture), ["cpu"] = before.CpuModel, ["cores"] = before.LogicalCores.ToString(CultureInfo.InvariantCulture),
                ["load_before"] = before.LoadText, ["load_after"] = after.LoadText,
            };
            var trainMedian = Intervals.Median(train[i]);
            rows.AddRange(
            [
                new MetricRow("parameters", parameters, "count", labels),
                new MetricRow("forward_gmacs", macs.GMacsWithAttention, "GMAC", labels),
                new MetricRow("forward_gmacs_without_attention", macs.GMacsWithoutAttention, "GMAC", labels),
                new MetricRow(TimingRecord.Train, trainMedian, "step/s", labels),
                new MetricRow("train_images_per_second", trainMedian * p.BatchSize, "image/s", labels),
                new MetricRow(TimingRecord.Sample, Intervals.Median(sample[i]), "image/s",
                    new Dictionary<string, string>(labels) { ["batch"] = p.SampleBatch.ToString(CultureInfo.InvariantCulture), ["nfe"] = p.SampleSteps.ToString(CultureInfo.InvariantCulture) }),
            ]);
            // Summary keys end in the metric's name, so the worker's "measure*.train_steps_per_second" rules match them.
            context.Summary[$"{variants[i]}.gmacs"] = macs.GMacsWithAttention.ToString("F4", CultureInfo.InvariantCulture);
            context.Summary[$"{variants[i]}.train_steps_per_second"] = trainMedian.ToString("F3", CultureInfo.InvariantCulture);
        }
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"), rows, ct: ct);
    }
}
