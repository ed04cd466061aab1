using Fusion.Models.UViT;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Modeling;

/// <summary>
/// The U-ViT knobs a pipeline sets (stage params, snake_case in YAML). Image size, channels and the text context's
/// shape are not params: they come from the data the model trains on.
/// </summary>
public class UViTParams
{
    /// <summary>early-concat, early-cross, intermediate-concat or intermediate-cross (canonical as that kebab-case string).</summary>
    public FusionVariant Variant { get; set; } = FusionVariant.EarlyConcat;
    /// <summary>c: text-only blocks (intermediate variants only).</summary>
    [ParamRange(Min = 0)]
    public int C { get; set; } = UViTFusion.DefaultC;
    /// <summary>v: image-only blocks at each end (intermediate variants only).</summary>
    [ParamRange(Min = 0)]
    public int V { get; set; } = UViTFusion.DefaultV;
    [ParamRange(Min = 1)]
    public int PatchSize { get; set; } = 2;
    [ParamRange(Min = 1)]
    public int EmbedDim { get; set; } = 512;
    [ParamRange(Min = 1)]
    public int Depth { get; set; } = 12;
    [ParamRange(Min = 1)]
    public int NumHeads { get; set; } = 8;
    [ParamRange(Above = 0)]
    public double MlpRatio { get; set; } = 4.0;

    /// <summary>The fusion: early variants have no c and v, so those params are ignored there.</summary>
    public UViTFusion Fusion() => Variant switch
    {
        FusionVariant.EarlyConcat => UViTFusion.EarlyConcat,
        FusionVariant.EarlyCross => UViTFusion.EarlyCross,
        FusionVariant.IntermediateConcat => UViTFusion.IntermediateConcat(C, V),
        FusionVariant.IntermediateCross => UViTFusion.IntermediateCross(C, V),
        _ => throw new ArgumentOutOfRangeException(nameof(Variant), Variant, "unknown fusion variant"),
    };

    /// <summary>The network config for data of <paramref name="channels"/>×<paramref name="imageSize"/>² and contexts of [tokens, dim].</summary>
    public UViTConfig ToConfig(int channels, int imageSize, int textTokens, int textDim)
    {
        var c = new UViTConfig
        {
            Fusion = Fusion(), ImageSize = imageSize, InChannels = channels, PatchSize = PatchSize, EmbedDim = EmbedDim, Depth = Depth,
            NumHeads = NumHeads, MlpRatio = MlpRatio, ClipDim = textDim, NumClipTokens = textTokens,
        };
        // The reference hard-codes 257 (= 16² patches + time, right only for 32/2 latents); patches + time is the design.
        return (c with { CrossMidBlockQueryTokens = c.NumPatches + 1 }).Validate();
    }
}
