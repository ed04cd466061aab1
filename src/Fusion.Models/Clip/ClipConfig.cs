using System.Globalization;
using System.Text.Json;

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

    /// <summary>
    /// From an HF <c>config.json</c> of a <c>CLIPModel</c> (<c>text_config</c>, <c>vision_config</c>, <c>projection_dim</c>,
    /// <c>logit_scale_init_value</c>); absent fields take HF's <c>CLIPTextConfig</c>/<c>CLIPVisionConfig</c> defaults.
    /// </summary>
    public static ClipConfig FromHuggingFaceConfig(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        JsonElement? Section(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Object ? e : null;
        int I(JsonElement? e, string key, int fallback) => e is { } o && o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : fallback;
        string Str(JsonElement? e, string key, string fallback) => e is { } o && o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : fallback;
        double D(JsonElement? e, string key, double fallback) => e is { } o && o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : fallback;
        var text = Section("text_config");
        var vision = Section("vision_config");
        var act = Str(text, "hidden_act", "quick_gelu");
        if (Str(vision, "hidden_act", "quick_gelu") != act) throw new ArgumentException("CLIP config: text and vision towers use different activations");
        var config = new ClipConfig(
            new(I(text, "hidden_size", 512), I(text, "num_hidden_layers", 12), I(text, "num_attention_heads", 8), I(text, "intermediate_size", 2048)),
            new(I(vision, "hidden_size", 768), I(vision, "num_hidden_layers", 12), I(vision, "num_attention_heads", 12), I(vision, "intermediate_size", 3072)),
            I(root, "projection_dim", 512), I(vision, "image_size", 224), I(vision, "patch_size", 32),
            I(text, "vocab_size", 49408), I(text, "max_position_embeddings", 77),
            act switch
            {
                "quick_gelu" => ClipActivation.QuickGelu,
                "gelu" => ClipActivation.Gelu,
                _ => throw new ArgumentException($"CLIP hidden_act '{act}' is not supported (quick_gelu or gelu)"),
            },
            D(text, "layer_norm_eps", 1e-5), D(root, "logit_scale_init_value", 2.6592));
        config.Validate();
        return config;
    }
}
