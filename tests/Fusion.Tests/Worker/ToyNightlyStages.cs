using System.Globalization;
using Fusion.Workflow.Stages;

namespace Fusion.Tests.Worker;

public sealed class ToyTrainParams
{
    public string Variant { get; set; } = "";
    public long Seed { get; set; } = 1234;

    /// <summary>The caption drop rate, as in the real train stage: 1.0 means the model never sees a caption.</summary>
    public double PUncond { get; set; } = 0.1;
}

/// <summary>
/// A stand-in for the nightly's train stage whose "model" is just its seed and caption drop, so that the toy evaluation
/// can give metrics with a known seed-to-seed spread. <c>model.txt</c> = "SEED P_UNCOND".
/// </summary>
public sealed class ToyTrainStage : StageKind<ToyTrainParams>
{
    public override string Name => "toy-train";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["model.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override Task RunAsync(StageContext context, ToyTrainParams p) =>
        File.WriteAllTextAsync(context.OutputPath("model.txt"), FormattableString.Invariant($"{p.Seed} {p.PUncond:R}"), context.CancellationToken);
}

/// <summary>
/// A stand-in for evaluate-shapes with the real metric names (fid, clip_score, alignment_all). With a model, the seed
/// moves every metric by z = 2 − seed units of its spread (seeds 1, 2, 3: z = 1, 0, −1, so mean = the healthy value and
/// sd = the unit exactly; seed 4 is 2 sd worse), and the caption drop scales the text path:
/// alignment_all = 0.10 + 0.50·t + 0.02·z, clip_score = 12 + 12·t + 0.5·z, fid = 60 − 1.5·z with t = (1 − p_uncond)/0.9
/// (1 at the default 0.1, 0 when no caption is ever seen). Without a model (the real-images reference) the metrics are
/// constants, as the reference's are across training seeds.
/// </summary>
public sealed class ToyEvaluateStage : StageKind<ToyEvaluateParams>
{
    public override string Name => "toy-evaluate";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new StageInput("model", Optional: true)];
    public override IReadOnlyList<string> Outputs => ["metrics.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ToyEvaluateParams _)
    {
        var (alignment, clip, fid) = (1.0, 30.0, 0.75);
        if (context.Inputs.GetValueOrDefault("model") is [var model])
        {
            var text = await File.ReadAllTextAsync(await model.GetPathAsync("model.txt", context.CancellationToken), context.CancellationToken);
            var parts = text.Split(' ');
            var z = 2 - double.Parse(parts[0], CultureInfo.InvariantCulture);
            var t = (1 - double.Parse(parts[1], CultureInfo.InvariantCulture)) / 0.9;
            (alignment, clip, fid) = (0.10 + 0.50 * t + 0.02 * z, 12 + 12 * t + 0.5 * z, 60 - 1.5 * z);
        }
        context.Summary["alignment_all"] = alignment.ToString("F4", CultureInfo.InvariantCulture);
        context.Summary["clip_score"] = clip.ToString("F3", CultureInfo.InvariantCulture);
        context.Summary["fid"] = fid.ToString("F3", CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(context.OutputPath("metrics.txt"), string.Join(" ", context.Summary.Values), context.CancellationToken);
    }

    public static StageRegistry Registry() => new StageRegistry().Add(new ToyTrainStage()).Add(new ToyEvaluateStage());

    /// <summary>The nightly's shape: two trained variants evaluated, and the reference on real images.</summary>
    public const string Pipeline = """
        stages:
          train:
            kind: toy-train
            variants: [early-cross, intermediate-cross]
          evaluate:
            kind: toy-evaluate
            variants: train
            inputs: {model: train}
          reference:
            kind: toy-evaluate
        """;
}

public sealed class ToyEvaluateParams;
