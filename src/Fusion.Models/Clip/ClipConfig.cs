using System.Globalization;

namespace Fusion.Models.Clip;

public enum ClipActivation
{
    /// <summary>x·sigmoid(1.702x), as the openai CLIP models use.</summary>
    QuickGelu,
    /// <summary>Exact (erf) GELU.</summary>
    Gelu,
}

/// <summary>One transformer tower (HF <c>CLIPTextConfig</c> / <c>CLIPVisionConfig</c> fields that change the function).</summary>
public sealed record ClipTowerConfig(int Width, int Layers, int Heads, int MlpWidth)
{
    public int HeadDim => Width / Heads;

    public void Validate(string tower)
    {
        if (Width <= 0 || Layers <= 0 || Heads <= 0 || MlpWidth <= 0 || Width % Heads != 0)
            throw new ArgumentException($"CLIP {tower} tower: width {Width}, layers {Layers}, heads {Heads}, MLP {MlpWidth} (width must divide by heads)");
    }
}

/// <summary>
/// A CLIP model: text tower (causal, <see cref="VocabSize"/> × <see cref="ContextLength"/>), vision tower (ViT over
/// <see cref="ImageSize"/>² images in <see cref="PatchSize"/>² patches) and the shared projection width.
/// </summary>
public sealed record ClipConfig(
    ClipTowerConfig Text,
    ClipTowerConfig Vision,
    int ProjectionDim,
    int ImageSize,
    int PatchSize,
    int VocabSize = 49408,
    int ContextLength = 77,
    ClipActivation Activation = ClipActivation.QuickGelu,
    double LayerNormEps = 1e-5,
    double LogitScaleInit = 2.6592)
{
    public int PatchesPerSide => ImageSize / PatchSize;
    public int VisionPositions => PatchesPerSide * PatchesPerSide + 1;

    /// <summary>openai/clip-vit-large-patch14 (U-ViT's caption encoder; torchmetrics' default CLIP Score model).</summary>
    public static ClipConfig ViTL14 { get; } = new(new(768, 12, 12, 3072), new(1024, 24, 16, 4096), 768, 224, 14);

    /// <summary>openai/clip-vit-base-patch32.</summary>
    public static ClipConfig ViTB32 { get; } = new(new(512, 12, 8, 2048), new(768, 12, 12, 3072), 512, 224, 32);

    public void Validate()
    {
        Text.Validate("text");
        Vision.Validate("vision");
        if (ProjectionDim <= 0 || PatchSize <= 0 || ImageSize % PatchSize != 0 || VocabSize <= 0 || ContextLength <= 0)
            throw new ArgumentException($"CLIP config: projection {ProjectionDim}, image {ImageSize}, patch {PatchSize} (image must divide by patch), vocab {VocabSize}, context {ContextLength}");
    }

    /// <summary>
    /// From openai's <c>build_model</c> hyper-parameters (as the fixture metadata and openai checkpoints give them):
    /// embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size, context_length, vocab_size,
    /// transformer_width, transformer_heads, transformer_layers; optional hidden_act and layer_norm_eps. As in openai's
    /// code, vision heads = vision_width / 64 and both MLPs are 4× wide.
    /// </summary>
    public static ClipConfig FromOpenAIHyperparameters(IReadOnlyDictionary<string, string> h)
    {
        int I(string key) => h.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)
            ? i : throw new KeyNotFoundException($"CLIP hyper-parameter '{key}' missing or not an integer");
        var textWidth = I("transformer_width");
        var visionWidth = I("vision_width");
        var act = h.TryGetValue("hidden_act", out var a) ? a switch
        {
            "quick_gelu" => ClipActivation.QuickGelu,
            "gelu" => ClipActivation.Gelu,
            _ => throw new ArgumentException($"CLIP hidden_act '{a}' is not supported (quick_gelu or gelu)"),
        } : ClipActivation.QuickGelu;
        var eps = h.TryGetValue("layer_norm_eps", out var e) ? double.Parse(e, CultureInfo.InvariantCulture) : 1e-5;
        var config = new ClipConfig(
            new(textWidth, I("transformer_layers"), I("transformer_heads"), 4 * textWidth),
            new(visionWidth, I("vision_layers"), Math.Max(1, visionWidth / 64), 4 * visionWidth),
            I("embed_dim"), I("image_resolution"), I("vision_patch_size"), I("vocab_size"), I("context_length"), act, eps);
        config.Validate();
        return config;
    }
}
