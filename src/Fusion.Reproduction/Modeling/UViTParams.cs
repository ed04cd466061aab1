using Fusion.Models.UViT;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Modeling;

/// <summary>
/// The U-ViT knobs a pipeline sets (stage params, snake_case in YAML), bound onto a <see cref="UViTConfig"/>: each
/// default is the config's own (U-ViT-S/2), written once there. Image size, channels and the text context's shape are
/// not params: they come from the data the model trains on.
/// </summary>
public class UViTParams
{
    /// <summary>The network knobs set so far (the rest at the config's defaults); not a param itself.</summary>
    internal UViTConfig Network { get; private set; } = new();

    /// <summary>early-concat, early-cross, intermediate-concat or intermediate-cross (canonical as that kebab-case string).</summary>
    public FusionVariant Variant { get; set; } = FusionVariant.EarlyConcat;
    /// <summary>c: text-only blocks (intermediate variants only).</summary>
    [ParamRange(Min = 0)]
    public int C { get; set; } = UViTFusion.DefaultC;
    /// <summary>v: image-only blocks at each end (intermediate variants only).</summary>
    [ParamRange(Min = 0)]
    public int V { get; set; } = UViTFusion.DefaultV;
    [ParamRange(Min = 1)]
    public int PatchSize { get => Network.PatchSize; set => Network = Network with { PatchSize = value }; }
    [ParamRange(Min = 1)]
    public int EmbedDim { get => Network.EmbedDim; set => Network = Network with { EmbedDim = value }; }
    [ParamRange(Min = 1)]
    public int Depth { get => Network.Depth; set => Network = Network with { Depth = value }; }
    [ParamRange(Min = 1)]
    public int NumHeads { get => Network.NumHeads; set => Network = Network with { NumHeads = value }; }
    [ParamRange(Above = 0)]
    public double MlpRatio { get => Network.MlpRatio; set => Network = Network with { MlpRatio = value }; }

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
        var c = Network with { Fusion = Fusion(), ImageSize = imageSize, InChannels = channels, ClipDim = textDim, NumClipTokens = textTokens };
        // The reference hard-codes 257 (= 16² patches + time, right only for 32/2 latents); patches + time is the design.
        return (c with { CrossMidBlockQueryTokens = c.NumPatches + 1 }).Validate();
    }
}
