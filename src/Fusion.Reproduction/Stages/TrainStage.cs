using System.Text.Json;
using Fusion.Artifacts.Tables;
using Fusion.Datasets.Loading;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Modeling;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

/// <summary>
/// The train stage's params, bound onto a <see cref="TrainConfig"/>: each default of the reference recipe is the
/// config's own, written once there; pipelines state what differs.
/// </summary>
public sealed class TrainParams : UViTParams
{
    /// <summary>The recipe knobs set so far (the rest at the reference's defaults); not a param itself.</summary>
    internal TrainConfig Recipe { get; private set; } = TrainConfig.Reference;

    [ParamRange(Min = 1)]
    public long Steps { get; set; } = 1_000_000;
    [ParamRange(Min = 1)]
    public int BatchSize { get => Recipe.BatchSize; set => Recipe = Recipe with { BatchSize = value }; }
    [ParamRange(Above = 0)]
    public double LearningRate { get => Recipe.LearningRate; set => Recipe = Recipe with { LearningRate = value }; }
    [ParamRange(Min = 0)]
    public double WeightDecay { get => Recipe.WeightDecay; set => Recipe = Recipe with { WeightDecay = value }; }
    [ParamRange(Min = 0, Below = 1)]
    public double Beta1 { get => Recipe.Beta1; set => Recipe = Recipe with { Beta1 = value }; }
    [ParamRange(Min = 0, Below = 1)]
    public double Beta2 { get => Recipe.Beta2; set => Recipe = Recipe with { Beta2 = value }; }
    [ParamRange(Min = 0)]
    public int WarmupSteps { get => Recipe.WarmupSteps; set => Recipe = Recipe with { WarmupSteps = value }; }
    /// <summary>p_ema ← rate·p_ema + (1 − rate)·p. 0 exports the raw weights (no averaging); 1 would freeze the EMA at
    /// its initialisation and export an untrained model, so it is outside the range.</summary>
    [ParamRange(Min = 0, Below = 1)]
    public double EmaRate { get => Recipe.EmaRate; set => Recipe = Recipe with { EmaRate = value }; }
    /// <summary>EMA warm-up for short runs: the k-th update uses min(ema_rate, (1 + k)/(10 + k)); off in the reference.</summary>
    public bool EmaWarmup { get => Recipe.EmaWarmup; set => Recipe = Recipe with { EmaWarmup = value }; }
    /// <summary>Classifier-free-guidance caption drop probability; 1 (never the caption) is allowed for the
    /// "broken text path" control experiment.</summary>
    [ParamRange(Min = 0, Max = 1)]
    public double PUncond { get => Recipe.PUncond; set => Recipe = Recipe with { PUncond = value }; }
    /// <summary>KL-f8 latent scale (U-ViT's MS-COCO value); unused for pixel data.</summary>
    [ParamRange(Above = 0)]
    public double LatentScale { get => Recipe.LatentScale; set => Recipe = Recipe with { LatentScale = value }; }
    /// <summary>The noise schedule: scaled-linear (the reference's, for latents) or linear (DDPM's, for pixels).</summary>
    public BetaSchedule BetaSchedule { get => Recipe.BetaSchedule; set => Recipe = Recipe with { BetaSchedule = value }; }
    [ParamRange(Above = 0, Below = 1)]
    public double BetaStart { get => Recipe.BetaStart; set => Recipe = Recipe with { BetaStart = value }; }
    [ParamRange(Above = 0, Below = 1)]
    public double BetaEnd { get => Recipe.BetaEnd; set => Recipe = Recipe with { BetaEnd = value }; }
    /// <summary>Min-SNR-γ loss weighting (0 = off, the reference's uniform ε-MSE); see <see cref="TrainConfig.MinSnrGamma"/>.</summary>
    [ParamRange(Min = 0)]
    public double MinSnrGamma { get => Recipe.MinSnrGamma; set => Recipe = Recipe with { MinSnrGamma = value }; }
    /// <summary>epsilon (the reference) or velocity (v-prediction); see <see cref="Fusion.Models.Diffusion.Prediction"/>.</summary>
    public Prediction Prediction { get => Recipe.Prediction; set => Recipe = Recipe with { Prediction = value }; }
    /// <summary>constant after the warm-up (the reference) or cosine (decays to 0 at the last step; see
    /// <see cref="TrainConfig.CosineDecaySteps"/>).</summary>
    public LearningRateSchedule LrSchedule { get; set; } = LearningRateSchedule.Constant;
    /// <summary>How pos_embed starts: trunc-normal (the reference) or sincos (the fixed 2-D table of MAE/DiT for the
    /// patch rows, still learnt; see <see cref="UViT.InitPositionsSinCos"/>).</summary>
    public PositionInit PosEmbedInit { get; set; } = PositionInit.TruncNormal;
    /// <summary>float32 or b-float16-mixed (bf16 compute, fp32 master weights); unset = from the run's --dtype.</summary>
    public TrainPrecision? Precision { get; set; }
    public long Seed { get => Recipe.Seed; set => Recipe = Recipe with { Seed = value }; }
    /// <summary>CPU threads of this node's torch work (0: every core; ignored on GPUs). A tiny model's kernels do not
    /// keep two cores busy, so its nodes train faster side by side on one thread each (<see cref="NodeThreads"/>).</summary>
    [ParamRange(Min = 0)]
    public int Threads { get; set; }
    [ParamRange(Min = 0)]
    public int SaveEvery { get => Recipe.SaveEvery; set => Recipe = Recipe with { SaveEvery = value }; }
    [ParamRange(Min = 1)]
    public int LogEvery { get => Recipe.LogEvery; set => Recipe = Recipe with { LogEvery = value }; }

    /// <summary>The trainer's config: the recipe with what only the run decides (schedule length, precision, device).</summary>
    public TrainConfig ToTrainConfig(string dtype, string device) => Recipe with
    {
        CosineDecaySteps = LrSchedule == LearningRateSchedule.Cosine ? Steps : 0,
        Precision = Precision ?? TrainPrecisions.Of(dtype),
        Device = device,
        KeepCheckpoints = 2,
    };
}

/// <summary>The starting value of pos_embed (<see cref="TrainParams.PosEmbedInit"/>).</summary>
public enum PositionInit { TruncNormal, Sincos }

/// <summary>The learning rate after the warm-up (<see cref="TrainParams.LrSchedule"/>).</summary>
public enum LearningRateSchedule { Constant, Cosine }

/// <summary>
/// One logged point of the loss curve (<c>loss.parquet</c>). No wall-clock fields: the artifact must be a function of
/// its fingerprint (speed is the measure stage's job; it/s goes to the log).
/// </summary>
public sealed class LossRecord
{
    public long Step { get; set; }
    public double Loss { get; set; }
    public double GradNorm { get; set; }
    public double LearningRate { get; set; }
}

/// <summary>A line of the scratch log: the loss record, and what only the live curves show (it varies between runs).</summary>
public sealed record LiveLogLine(LossRecord Record, double WallTime, double SamplesPerSecond);

/// <summary>
/// Trains one fusion variant: ε-prediction on the data artifact's <c>train/images*.parquet</c> (pixels) or
/// <c>train/moments*.parquet</c> (latent moments) with the text artifact's caption contexts, checkpointing into scratch
/// (a killed run resumes bit-exactly from its last checkpoint). Outputs the EMA weights, <c>model.json</c>, the loss
/// curve and its TensorBoard event file.
/// <para>
/// Live curves: every log step appends loss, grad_norm, learning_rate and samples_per_second to a TensorBoard event
/// file in <c>scratch/tensorboard/NODE/</c> (flushed at once). A resumed node rewrites that file from its scratch log
/// up to the checkpoint's step before it goes on, so no step appears twice. The artifact's <c>tensorboard/</c> holds the
/// same curves without samples_per_second and with wall time 0: an artifact must be a function of its fingerprint.
/// </para>
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge", "Google.Protobuf")]
public sealed class TrainStage : StageKind<TrainParams>
{
    public const string KindName = "train";
    /// <summary>The folder of the event files, in scratch (one subfolder per node) and in the artifact.</summary>
    public const string CurvesFolder = "tensorboard";
    /// <summary>The artifact's event file: a fixed name, so the artifact's bytes do not depend on when or where it ran.</summary>
    public const string CurvesFile = CurvesFolder + "/" + TensorBoardEventWriter.FilePrefix + "train";

    public override string Name => KindName;
    // 4: TensorBoard event files (live in scratch, by step in the artifact).
    public override string CodeVersion => "4";
    public override IReadOnlyList<StageInput> Inputs => [new("data"), new("text")];
    public override IReadOnlyList<string> Outputs => [ModelSpec.WeightsFile, ModelSpec.FileName, "loss.parquet", CurvesFile];

    public override async Task RunAsync(StageContext context, TrainParams p)
    {
        var ct = context.CancellationToken;
        var data = context.Input("data");
        var text = context.Input("text");
        var imageShards = data.Manifest.Files.Any(f => f.Name.StartsWith("train/moments", StringComparison.Ordinal))
            ? await data.PathsAsync("train", ".parquet", ct, namePrefix: "moments")
            : await data.PathsAsync("train", "images.parquet", ct);
        var captionShards = await text.PathsAsync("train", "contexts.parquet", ct);
        await using var loader = await TrainingDataLoader.OpenAsync(imageShards, captionShards, new TrainingDataOptions { BatchSize = p.BatchSize, Seed = p.Seed }, ct);
        if (loader.ImagesWithoutCaptions.Count > 0)
            context.Logger.LogWarning("train: {Count} images have no caption and are skipped", loader.ImagesWithoutCaptions.Count);

        var source = new LoaderBatchSource(loader, p.BatchSize);
        var image = loader.ImageSpec.Shape;
        var channels = source.Kind == BatchKind.Moments ? image[0] / 2 : image[0];
        var config = p.ToConfig(channels, image[^1], loader.ContextSpec.Shape[0], loader.ContextSpec.Shape[1]);
        using var nullContext = await ArtifactReaders.ReadNullContextAsync(text, ct);

        var train = p.ToTrainConfig(context.Environment.Dtype, context.Environment.Device);
        using var trainer = new Trainer(() =>
        {
            var net = new UViT(config);
            if (p.PosEmbedInit == PositionInit.Sincos) net.InitPositionsSinCos();
            return net;
        }, train, source, nullContext);
        var ckpt = Path.Combine(context.ScratchDirectory, "ckpt");
        if (trainer.ResumeLatest(ckpt, warning => context.Logger.LogWarning("train {Node}: {Warning}", context.NodeId, warning)))
            context.Logger.LogInformation("train {Node}: resumed from step {Step}", context.NodeId, trainer.Step);

        // The loss log survives interruptions beside the checkpoints; entries past the resumed step are dropped, and
        // the live curves are rewritten from what is kept (TensorBoard would otherwise show those steps twice).
        var logPath = Path.Combine(context.ScratchDirectory, "loss.jsonl");
        var lines = File.Exists(logPath)
            ? File.ReadAllLines(logPath).Select(l => JsonSerializer.Deserialize<LiveLogLine>(l, LogJson)!).Where(r => r.Record.Step <= trainer.Step).ToList()
            : [];
        await File.WriteAllLinesAsync(logPath, lines.Select(r => JsonSerializer.Serialize(r, LogJson)), ct);
        var log = lines.Select(l => l.Record).ToList();
        var liveFolder = Path.Combine(context.ScratchDirectory, CurvesFolder, context.NodeId);
        if (Directory.Exists(liveFolder)) Directory.Delete(liveFolder, recursive: true);
        var now = DateTimeOffset.UtcNow;
        using var live = new TensorBoardEventWriter(Path.Combine(liveFolder, $"{TensorBoardEventWriter.FilePrefix}{now.ToUnixTimeSeconds()}.{Environment.MachineName}"), UnixSeconds(now));
        foreach (var l in lines) live.Scalars(l.Record.Step, l.WallTime, LiveScalars(l));
        context.Progress.Report(trainer.Step, p.Steps, "step");
        try
        {
            // On the calling thread, where the model was built (a slot's ComputeThread in the engine).
            trainer.Run(p.Steps, ckpt, entry =>
            {
                var line = new LiveLogLine(new LossRecord { Step = entry.Step, Loss = entry.Loss, GradNorm = entry.GradNorm, LearningRate = entry.LearningRate },
                    UnixSeconds(DateTimeOffset.UtcNow), entry.ImagesPerSec);
                context.Logger.LogDebug("{Node} step {Step}: loss {Loss:F5}, grad norm {GradNorm:F3}, {ItPerSec:F2} it/s", context.NodeId, entry.Step, entry.Loss, entry.GradNorm, entry.ItPerSec);
                log.Add(line.Record);
                File.AppendAllLines(logPath, [JsonSerializer.Serialize(line, LogJson)]);
                live.Scalars(entry.Step, line.WallTime, LiveScalars(line));
                context.Progress.Report(entry.Step, p.Steps, "step");
            }, ct);
        }
        catch (OperationCanceledException)
        {
            trainer.SaveCheckpoint(ckpt);   // keep every finished step for the resume
            throw;
        }

        trainer.ExportEma(context.OutputPath(ModelSpec.WeightsFile));
        ModelSpec.From(config, source.Kind, p.LatentScale, trainer.Step, train).Save(context.OutputPath(ModelSpec.FileName));
        await RecordsTable.WriteAsync(context.OutputPath("loss.parquet"), log, ct: ct);
        using (var curves = new TensorBoardEventWriter(context.OutputPath(CurvesFile), wallTime: 0))
            foreach (var r in log) curves.Scalars(r.Step, 0, Scalars(r));
        context.Summary["variant"] = config.Fusion.ToString();
        context.Summary["parameters"] = trainer.Model.parameters().Sum(t => t.numel()).ToString();
        if (log.Count > 0) context.Summary["final_loss"] = log[^1].Loss.ToString("F5");
    }

    /// <summary>The scalars of one log step, by TensorBoard tag (the artifact's curves).</summary>
    public static (string Tag, float Value)[] Scalars(LossRecord r) =>
        [("loss", (float)r.Loss), ("grad_norm", (float)r.GradNorm), ("learning_rate", (float)r.LearningRate)];

    private static (string Tag, float Value)[] LiveScalars(LiveLogLine l) => [.. Scalars(l.Record), ("samples_per_second", (float)l.SamplesPerSecond)];

    private static double UnixSeconds(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;

    // A diverging run can log ±inf (the trainer refuses to apply such steps, but the log line comes first).
    private static readonly JsonSerializerOptions LogJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
