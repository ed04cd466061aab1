using System.Globalization;

namespace Fusion.Models.UViT;

/// <summary>
/// Hyper-parameters of the text-to-image U-ViT. Defaults are U-ViT-S/2 of the authors' MS-COCO config
/// (configs/mscoco_uvit_small.py): SD latents 4×32×32, patch 2 (256 tokens), width 512, depth 12 (13 blocks),
/// 8 heads, MLP ×4, qkv without bias, time as a sinusoidal token without MLP, CLIP ViT-L/14 context 77×768,
/// long skips, final 3×3 conv; fusion variant early-concat (the U-ViT baseline).
/// </summary>
public sealed record UViTConfig
{
    public UViTFusion Fusion { get; init; } = UViTFusion.EarlyConcat;
    /// <summary>Latent side length (img_size).</summary>
    public int ImageSize { get; init; } = 32;
    /// <summary>Latent channels (in_chans).</summary>
    public int InChannels { get; init; } = 4;
    public int PatchSize { get; init; } = 2;
    /// <summary>Width D (embed_dim).</summary>
    public int EmbedDim { get; init; } = 512;
    /// <summary>
    /// depth: the image path has 2·⌊depth/2⌋ + 1 blocks (⌊depth/2⌋ down, one mid, ⌊depth/2⌋ up). An odd depth is rounded
    /// down as the authors' <c>range(depth // 2)</c> does: depth 5 builds the same network as depth 4.
    /// </summary>
    public int Depth { get; init; } = 12;
    public int NumHeads { get; init; } = 8;
    public double MlpRatio { get; init; } = 4.0;
    public bool QkvBias { get; init; }
    /// <summary>mlp_time_embed: Linear(D,4D) → SiLU → Linear(4D,D) on the time embedding; off in the COCO config.</summary>
    public bool MlpTimeEmbed { get; init; }
    /// <summary>Text embedding width (clip_dim).</summary>
    public int ClipDim { get; init; } = 768;
    /// <summary>Text tokens per caption (num_clip_token).</summary>
    public int NumClipTokens { get; init; } = 77;
    /// <summary>conv: a 3×3 conv after unpatchify (else identity).</summary>
    public bool Conv { get; init; } = true;
    /// <summary>skip: long skip connections with Linear(2D → D) in the up blocks.</summary>
    public bool Skip { get; init; } = true;
    /// <summary>
    /// Query length of the mid block in the cross variants. The authors' code builds it with the constructor default
    /// l = 257, which equals patches + time only for 32/2 latents; other sizes inherit the literal, exactly as here.
    /// Set it to <see cref="NumPatches"/> + 1 for the design the notes describe at any size.
    /// </summary>
    public int CrossMidBlockQueryTokens { get; init; } = 257;

    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
    public int HeadDim => EmbedDim / NumHeads;
    public int MlpHidden => (int)(EmbedDim * MlpRatio);
    /// <summary>Values per patch token at the output: p·p·C.</summary>
    public int PatchDim => PatchSize * PatchSize * InChannels;
    /// <summary>Rows of the position table: patches + time + text.</summary>
    public int NumTokens => NumPatches + 1 + NumClipTokens;
    /// <summary>c: text-only blocks.</summary>
    public int TextBlocks => Fusion.TextBlocks;
    /// <summary>v: image-only blocks at each end.</summary>
    public int ImageOnlyBlocks => Fusion.ImageOnlyBlocks;
    /// <summary>Joint (text-aware) blocks on each side of the mid block: (depth − 2v) // 2 (non-negative, so C#'s / is the floor).</summary>
    public int JointBlocks => (Depth - 2 * ImageOnlyBlocks) / 2;
    /// <summary>Blocks on the image path: 2v + 2j + 1 (13 for depth 12 and 13).</summary>
    public int ImagePathBlocks => 2 * ImageOnlyBlocks + 2 * JointBlocks + 1;

    /// <summary>U-ViT-S/2 on SD latents of 256×256 images with the given fusion variant.</summary>
    public static UViTConfig SmallS2(UViTFusion fusion) => new() { Fusion = fusion };

    /// <summary>A tiny config for CPU tests and smoke runs (8×8 latents, 16 patches, width 64, 5 blocks).</summary>
    public static UViTConfig Tiny(UViTFusion fusion) => new()
    {
        Fusion = fusion, ImageSize = 8, PatchSize = 2, EmbedDim = 64, Depth = 4, NumHeads = 4, ClipDim = 32, NumClipTokens = 8,
    };

    /// <summary>Throws naming the first inconsistent knob.</summary>
    public UViTConfig Validate()
    {
        void Require(bool ok, string message) { if (!ok) throw new ArgumentException($"invalid U-ViT config ({this}): {message}"); }
        Require(ImageSize > 0 && PatchSize > 0 && ImageSize % PatchSize == 0, $"ImageSize {ImageSize} must be a positive multiple of PatchSize {PatchSize}");
        Require(InChannels > 0 && EmbedDim > 0 && NumHeads > 0 && EmbedDim % NumHeads == 0, $"EmbedDim {EmbedDim} must be a positive multiple of NumHeads {NumHeads}");
        Require(MlpHidden > 0, $"MlpRatio {MlpRatio} gives no hidden units");
        Require(ClipDim > 0 && NumClipTokens > 0, "ClipDim and NumClipTokens must be positive");
        Require(Depth >= 0, $"Depth {Depth} must be ≥ 0");
        Require(2 * ImageOnlyBlocks <= Depth, $"v = {ImageOnlyBlocks} image-only blocks per side need Depth ≥ 2v (Depth {Depth})");
        Require(Fusion.Method != FusionMethod.Cross || CrossMidBlockQueryTokens >= NumPatches + 1,
            $"CrossMidBlockQueryTokens {CrossMidBlockQueryTokens} (the reference's literal is 257) must be ≥ patches + time = {NumPatches + 1}; " +
            "fewer would drop image tokens (the reference's forward fails there)");
        return this;
    }

    /// <summary>
    /// Builds a config from the authors' constructor arguments as strings (img_size, in_chans, patch_size, embed_dim,
    /// depth, num_heads, mlp_ratio, qkv_bias, mlp_time_embed, clip_dim, num_clip_token, conv, skip, c, v) and a
    /// variant name (e.g. a fixture's safetensors metadata). Absent keys keep the defaults; unknown variant names throw.
    /// </summary>
    public static UViTConfig FromReferenceArgs(IReadOnlyDictionary<string, string> args, string? variant = null)
    {
        int Int(string key, int fallback) => args.TryGetValue(key, out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : fallback;
        bool Bool(string key, bool fallback) => args.TryGetValue(key, out var s) ? bool.Parse(s) : fallback;
        var family = UViTFusion.Parse(variant ?? (args.TryGetValue("variant", out var v) ? v
            : throw new ArgumentException("no variant given and no 'variant' key in the reference arguments")));
        var fusion = family.Stage == FusionStage.Early ? family
            : new UViTFusion(family.Stage, family.Method, Int("c", family.TextBlocks), Int("v", family.ImageOnlyBlocks));
        var d = new UViTConfig();
        return new UViTConfig
        {
            Fusion = fusion,
            ImageSize = Int("img_size", d.ImageSize),
            InChannels = Int("in_chans", d.InChannels),
            PatchSize = Int("patch_size", d.PatchSize),
            EmbedDim = Int("embed_dim", d.EmbedDim),
            Depth = Int("depth", d.Depth),
            NumHeads = Int("num_heads", d.NumHeads),
            MlpRatio = args.TryGetValue("mlp_ratio", out var r) ? double.Parse(r, CultureInfo.InvariantCulture) : d.MlpRatio,
            QkvBias = Bool("qkv_bias", d.QkvBias),
            MlpTimeEmbed = Bool("mlp_time_embed", d.MlpTimeEmbed),
            ClipDim = Int("clip_dim", d.ClipDim),
            NumClipTokens = Int("num_clip_token", d.NumClipTokens),
            Conv = Bool("conv", d.Conv),
            Skip = Bool("skip", d.Skip),
        }.Validate();
    }
}
