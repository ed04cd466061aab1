using System.Text.Json;
using Fusion.Models;
using Fusion.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Shapes;

/// <summary>
/// The tiny CLIP that plays, on the shapes benchmark, every role the real CLIP plays on COCO: frozen text encoder of
/// the diffusion models (last hidden state), CLIP Score, and (image tower's pooled features) the FID feature space.
/// Same model code as the pretrained CLIP; word-level tokenizer; images enter as x/127.5 − 1 (no resize: the tower
/// is built for the dataset's image size).
/// </summary>
public sealed record ShapesClipSpec(ClipConfig Config, IReadOnlyList<string> Vocabulary)
{
    public const string WeightsFile = "clip.safetensors";
    public const string SpecFile = "clip.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public ShapesTokenizer Tokenizer() => new(Vocabulary, Config.ContextLength);

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static ShapesClipSpec Load(string path) =>
        JsonSerializer.Deserialize<ShapesClipSpec>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty CLIP spec");

    /// <summary>The trained model, strictly loaded, frozen, in eval mode.</summary>
    public static (ClipModel Model, ShapesClipSpec Spec) LoadTrained(string specPath, string weightsPath, Device device)
    {
        var spec = Load(specPath);
        var model = TorchRandom.Unseeded(() => new ClipModel(spec.Config));
        Fusion.Models.Weights.StateDict.LoadStrict(model, weightsPath);
        foreach (var p in model.parameters()) p.requires_grad = false;
        model.to(device).eval();
        return (model, spec);
    }

    /// <summary>uint8 CHW pixels [N, 3, S, S] → the tower's input in [−1, 1].</summary>
    public static Tensor Pixels(Tensor uint8Chw) => uint8Chw.to(ScalarType.Float32).Over(127.5).Minus(1.0);
}
