using Fusion.Models.Layers;
using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>HF <c>CLIPVisionEmbeddings</c>: bias-free patch conv, a class token in front, learned positions.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;
    private readonly SafeConv2d patch_embedding;
    private readonly Embedding position_embedding;
    private readonly int imageSize;

    public ClipVisionEmbeddings(ClipConfig c) : base(nameof(ClipVisionEmbeddings))
    {
        class_embedding = nn.Parameter(zeros(c.Vision.Width));
        patch_embedding = new SafeConv2d(3, c.Vision.Width, c.PatchSize, stride: c.PatchSize, bias: false);
        position_embedding = nn.Embedding(c.VisionPositions, c.Vision.Width);
        imageSize = c.ImageSize;
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixels)
    {
        if (pixels.dim() != 4 || pixels.shape[1] != 3 || pixels.shape[2] != imageSize || pixels.shape[3] != imageSize)
            throw new ArgumentException($"CLIP vision input must be [B, 3, {imageSize}, {imageSize}], got {StateDict.Shape(pixels)}");
        using var scope = NewDisposeScope();
        var patches = patch_embedding.forward(pixels).flatten(2).transpose(1, 2);            // [B, N, W]
        var cls = class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1);
        return (cat([cls, patches], 1).Plus(position_embedding.weight!)).MoveToOuterDisposeScope();
    }

    internal void Initialize(ClipConfig c)
    {
        ClipInit.Normal(class_embedding, Math.Pow(c.Vision.Width, -0.5));
        ClipInit.Normal(patch_embedding.weight!, 0.02);
        ClipInit.Normal(position_embedding.weight!, 0.02);
    }
}

/// <summary>
/// HF <c>CLIPVisionTransformer</c> (keys <c>embeddings.*</c>, <c>pre_layrnorm.*</c> — sic, <c>encoder.layers.*</c>,
/// <c>post_layernorm.*</c>): pixels [B, 3, S, S] (already CLIP-normalised) → pooled class token after
/// <c>post_layernorm</c>, [B, width].
/// </summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ClipVisionEmbeddings embeddings;
    private readonly LayerNorm pre_layrnorm;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipConfig c) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(c);
        pre_layrnorm = nn.LayerNorm(c.Vision.Width, c.LayerNormEps);
        encoder = new ClipEncoder(c.Vision, c.Activation, c.LayerNormEps, causal: false);
        post_layernorm = nn.LayerNorm(c.Vision.Width, c.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var h = encoder.forward(pre_layrnorm.forward(embeddings.forward(pixels)));
        return post_layernorm.forward(h.select(1, 0)).MoveToOuterDisposeScope();
    }

    internal void Initialize(ClipConfig c)
    {
        embeddings.Initialize(c);
        encoder.Initialize(c.Vision);
    }
}
