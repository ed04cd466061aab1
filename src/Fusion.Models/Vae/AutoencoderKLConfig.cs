using System.Globalization;

namespace Fusion.Models.Vae;

/// <summary>
/// LDM <c>AutoencoderKL</c> hyper-parameters (<c>ddconfig</c> + <c>embed_dim</c>) and the latent scale factor.
/// <see cref="Resolution"/> only decides where <see cref="AttnResolutions"/> put attention blocks.
/// </summary>
public sealed record AutoencoderKLConfig(
    int Ch,
    IReadOnlyList<int> ChMult,
    int NumResBlocks,
    IReadOnlyList<int> AttnResolutions,
    int ZChannels = 4,
    int EmbedDim = 4,
    bool DoubleZ = true,
    int InChannels = 3,
    int OutChannels = 3,
    int Resolution = 256,
    double Dropout = 0.0,
    double ScaleFactor = AutoencoderKLConfig.UViTMsCocoScale)
{
    /// <summary>U-ViT's latent scale for MS-COCO (configs/mscoco_uvit_*.py).</summary>
    public const double UViTMsCocoScale = 0.23010;
    /// <summary>Stable Diffusion's (and U-ViT ImageNet's) latent scale.</summary>
    public const double StableDiffusionScale = 0.18215;
    /// <summary>GroupNorm groups of LDM's <c>Normalize</c> (eps 1e-6).</summary>
    public const int NormGroups = 32;

    public int Levels => ChMult.Count;
    /// <summary>Spatial downsampling factor, 2^(levels − 1) (8 for KL-f8).</summary>
    public int DownsamplingFactor => 1 << (ChMult.Count - 1);

    /// <summary>The SD / LDM KL-f8 autoencoder (ch 128, ch_mult [1, 2, 4, 4], 2 res blocks, no attention resolutions).</summary>
    public static AutoencoderKLConfig KlF8(double scaleFactor = UViTMsCocoScale) =>
        new(128, [1, 2, 4, 4], 2, [], ScaleFactor: scaleFactor);

    public void Validate()
    {
        var widths = ChMult.Select(m => Ch * m).Prepend(Ch).ToList();
        if (Ch <= 0 || ChMult.Count == 0 || NumResBlocks <= 0 || ZChannels <= 0 || EmbedDim <= 0 || ScaleFactor <= 0
            || widths.Any(w => w <= 0 || w % NormGroups != 0))
            throw new ArgumentException($"autoencoder config: ch {Ch}, ch_mult [{string.Join(", ", ChMult)}], num_res_blocks {NumResBlocks}, " +
                                        $"z_channels {ZChannels}, embed_dim {EmbedDim}, scale {ScaleFactor} (every width must be a positive multiple of {NormGroups})");
    }

    /// <summary>
    /// From LDM <c>ddconfig</c> keys as strings (the fixture metadata): ch, ch_mult ("[1, 2]"), num_res_blocks,
    /// attn_resolutions, z_channels, embed_dim, double_z, in_channels, out_ch, resolution, dropout, scale_factor
    /// (the last five optional).
    /// </summary>
    public static AutoencoderKLConfig FromLdmHyperparameters(IReadOnlyDictionary<string, string> h)
    {
        string S(string key) => h.TryGetValue(key, out var v) ? v.Trim() : throw new KeyNotFoundException($"autoencoder hyper-parameter '{key}' missing");
        int I(string key) => int.TryParse(S(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)
            ? i : throw new FormatException($"autoencoder hyper-parameter '{key}' = '{S(key)}' is not an integer");
        int IOr(string key, int fallback) => h.ContainsKey(key) ? I(key) : fallback;
        double DOr(string key, double fallback) => h.ContainsKey(key) ? double.Parse(S(key), CultureInfo.InvariantCulture) : fallback;
        List<int> L(string key) => S(key).Trim('[', ']', '(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToList();
        var config = new AutoencoderKLConfig(I("ch"), L("ch_mult"), I("num_res_blocks"), L("attn_resolutions"), I("z_channels"), I("embed_dim"),
            !h.TryGetValue("double_z", out var dz) || bool.Parse(dz), IOr("in_channels", 3), IOr("out_ch", 3), IOr("resolution", 256),
            DOr("dropout", 0), DOr("scale_factor", UViTMsCocoScale));
        config.Validate();
        return config;
    }
}
