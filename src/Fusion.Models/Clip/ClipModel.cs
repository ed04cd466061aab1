using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>Output of <see cref="ClipModel.forward"/>: L2-normalised embeddings and the scaled cosine logits.</summary>
public sealed record ClipOutput(Tensor LogitsPerImage, Tensor LogitsPerText, Tensor TextEmbeds, Tensor ImageEmbeds) : IDisposable
{
    public void Dispose()
    {
        LogitsPerImage.Dispose();
        LogitsPerText.Dispose();
        TextEmbeds.Dispose();
        ImageEmbeds.Dispose();
    }
}

/// <summary>
/// HF <c>CLIPModel</c> with its exact state-dict keys (<c>text_model.*</c>, <c>vision_model.*</c>,
/// <c>text_projection.weight</c>, <c>visual_projection.weight</c>, <c>logit_scale</c>): both towers, bias-free
/// projections to the shared space and the learned temperature. New models get HF's initialisation, so the same code
/// trains a CLIP contrastively (<see cref="ContrastiveLoss"/>).
/// </summary>
public sealed class ClipModel : nn.Module<Tensor, Tensor, ClipOutput>
{
    private readonly ClipTextTransformer text_model;
    private readonly ClipVisionTransformer vision_model;
    private readonly Linear text_projection, visual_projection;
    private readonly Parameter logit_scale;

    public ClipModel(ClipConfig config) : base(nameof(ClipModel))
    {
        config.Validate();
        Config = config;
        text_model = new ClipTextTransformer(config);
        vision_model = new ClipVisionTransformer(config);
        visual_projection = nn.Linear(config.Vision.Width, config.ProjectionDim, hasBias: false);
        text_projection = nn.Linear(config.Text.Width, config.ProjectionDim, hasBias: false);
        logit_scale = nn.Parameter(tensor((float)config.LogitScaleInit));
        RegisterComponents();
        text_model.Initialize(config);
        vision_model.Initialize(config);
        ClipInit.Normal(text_projection.weight!, Math.Pow(config.Text.Width, -0.5));
        ClipInit.Normal(visual_projection.weight!, Math.Pow(config.Vision.Width, -0.5));
        ClipInit.LayerNorms(this);
    }

    public ClipConfig Config { get; }

    /// <summary>The learned log temperature (HF <c>logit_scale</c>; openai clamps exp(·) at 100 during training).</summary>
    public Parameter LogitScale => logit_scale;

    public ClipTextTransformer TextModel => text_model;
    public ClipVisionTransformer VisionModel => vision_model;

    /// <summary>Text last hidden state [B, L, width] (after the final LayerNorm).</summary>
    public Tensor TextHiddenStates(Tensor ids) => text_model.forward(ids);

    /// <summary>HF <c>get_text_features</c>: EOT hidden state projected, [B, projection], not normalised.</summary>
    public Tensor GetTextFeatures(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var pooled = ClipTextTransformer.Pool(text_model.forward(ids), ids);
        return text_projection.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>HF <c>get_image_features</c>: post-LN class token projected, [B, projection], not normalised.</summary>
    public Tensor GetImageFeatures(Tensor pixels)
    {
        using var pooled = vision_model.forward(pixels);
        return visual_projection.forward(pooled);
    }

    /// <summary>Both towers: normalised embeddings and logits exp(logit_scale)·cos, per image [B_img, B_txt] and per text.</summary>
    public override ClipOutput forward(Tensor ids, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var text = nn.functional.normalize(GetTextFeatures(ids), dim: -1);
        var image = nn.functional.normalize(GetImageFeatures(pixels), dim: -1);
        var perText = matmul(text, image.t()) * logit_scale.exp();
        var result = new ClipOutput(perText.t().MoveToOuterDisposeScope(), perText.MoveToOuterDisposeScope(),
            text.MoveToOuterDisposeScope(), image.MoveToOuterDisposeScope());
        return result;
    }

    /// <summary>HF <c>clip_loss</c>: mean of the text→image and image→text cross-entropies; pair i matches i.</summary>
    public static Tensor ContrastiveLoss(Tensor logitsPerText)
    {
        using var scope = NewDisposeScope();
        using var count = logitsPerText.shape[0].ToScalar();
        var target = arange(count, dtype: ScalarType.Int64, device: logitsPerText.device);
        var loss = (nn.functional.cross_entropy(logitsPerText, target).Plus(nn.functional.cross_entropy(logitsPerText.t(), target))).Over(2);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Keys a CLIP loader skips on purpose: the <c>position_ids</c> buffers of HF/openai files (non-persistent in current HF).</summary>
    public static bool IsIgnoredKey(string key) => key.EndsWith("embeddings.position_ids", StringComparison.Ordinal);

    /// <summary>Strict load of a full HF <c>CLIPModel</c> state dict (only <c>*.position_ids</c> may be extra).</summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> source, string sourceName) =>
        StateDict.LoadStrict(this, source, sourceName, IsIgnoredKey);

    /// <summary>Builds a model of <paramref name="config"/> and loads an HF <c>model.safetensors</c> (or zip .pth) strictly; eval mode.</summary>
    public static ClipModel Load(string path, ClipConfig config)
    {
        var model = TorchRandom.Unseeded(() => new ClipModel(config));
        var sd = StateDict.Read(path);
        try { model.LoadWeights(sd, path); }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        model.eval();
        return model;
    }
}
