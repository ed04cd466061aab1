using TorchSharp;
using System.Text.Json;
using Fusion.Models.Diffusion;
using Fusion.Models;
using Fusion.Models.UViT;

namespace Fusion.Reproduction.Modeling;

/// <summary>
/// What a trained model artifact is (<c>model.json</c> beside <c>ema.safetensors</c>): the network config and how its
/// data space maps to images — pixels in [−1, 1] (shapes) or scaled KL-f8 latents (COCO).
/// </summary>
public sealed record ModelSpec(
    string Variant,
    int TextBlocks,
    int ImageOnlyBlocks,
    int ImageSize,
    int InChannels,
    int PatchSize,
    int EmbedDim,
    int Depth,
    int NumHeads,
    double MlpRatio,
    int TextTokens,
    int TextDim,
    int CrossMidBlockQueryTokens,
    BatchKind DataKind,
    double LatentScale,
    long TrainedSteps,
    // Absent from model.json files written before the schedule was a choice: those models trained on the reference's.
    BetaSchedule BetaSchedule = BetaSchedule.ScaledLinear,
    double BetaStart = 0.00085,
    double BetaEnd = 0.012,
    int DiffusionSteps = 1000,
    Prediction Prediction = Prediction.Epsilon)
{
    public const string FileName = "model.json";
    public const string WeightsFile = "ema.safetensors";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static ModelSpec From(UViTConfig c, BatchKind kind, double latentScale, long steps, TrainConfig train) =>
        new(c.Fusion.Family, c.TextBlocks, c.ImageOnlyBlocks, c.ImageSize, c.InChannels, c.PatchSize, c.EmbedDim, c.Depth, c.NumHeads,
            c.MlpRatio, c.NumClipTokens, c.ClipDim, c.CrossMidBlockQueryTokens, kind, latentScale, steps,
            train.BetaSchedule, train.BetaStart, train.BetaEnd, train.DiffusionSteps, train.Prediction);

    /// <summary>The noise schedule the model was trained with (its samplers must use it).</summary>
    public DiscreteSchedule NoiseSchedule() => DiscreteSchedule.Of(BetaSchedule, DiffusionSteps, BetaStart, BetaEnd);

    public UViTConfig ToConfig()
    {
        var family = UViTFusion.Parse(Variant);
        var fusion = family.Stage == FusionStage.Early ? family : new UViTFusion(FusionStage.Intermediate, family.Method, TextBlocks, ImageOnlyBlocks);
        return new UViTConfig
        {
            Fusion = fusion, ImageSize = ImageSize, InChannels = InChannels, PatchSize = PatchSize, EmbedDim = EmbedDim, Depth = Depth,
            NumHeads = NumHeads, MlpRatio = MlpRatio, ClipDim = TextDim, NumClipTokens = TextTokens, CrossMidBlockQueryTokens = CrossMidBlockQueryTokens,
        }.Validate();
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static ModelSpec Load(string path) =>
        JsonSerializer.Deserialize<ModelSpec>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty model spec");

    /// <summary>The EMA network of a trained model artifact, strictly loaded, in eval mode.</summary>
    public static (UViT Net, ModelSpec Spec) LoadTrained(string specPath, string weightsPath, TorchSharp.torch.Device device)
    {
        var spec = Load(specPath);
        var net = TorchRandom.Unseeded(() => new UViT(spec.ToConfig()));
        Fusion.Models.Weights.StateDict.LoadStrict(net, weightsPath);
        net.to(device).eval();
        return (net, spec);
    }
}
