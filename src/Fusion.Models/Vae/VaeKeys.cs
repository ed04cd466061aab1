using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Fusion.Models.Vae;

/// <summary>
/// Key naming of the KL autoencoder: LDM names (ours, U-ViT's <c>autoencoder_kl.pth</c>, SD <c>first_stage_model.*</c>)
/// ↔ diffusers <c>AutoencoderKL</c> names (<c>sd-vae-ft-*</c>, SD <c>vae/</c> folders), as diffusers'
/// <c>convert_ldm_vae_checkpoint</c> maps them: down/up → down_blocks/up_blocks (decoder levels reversed), block →
/// resnets, nin_shortcut → conv_shortcut, mid.block_1/2 → mid_block.resnets.0/1, attention norm/q/k/v/proj_out →
/// group_norm/to_q/to_k/to_v/to_out.0 (older hub files: query/key/value/proj_attn; both are read) with [C,C,1,1] conv
/// weights ↔ [C,C] linear weights, norm_out → conv_norm_out.
/// </summary>
public static partial class VaeKeys
{
    /// <summary>Keys a checkpoint may carry that are not part of the model: LDM's training loss (LPIPS + discriminator).</summary>
    public static bool IsTrainingOnlyKey(string key) => key.StartsWith("loss.", StringComparison.Ordinal);

    /// <summary>
    /// LDM-named view of any supported checkpoint: keeps only <c>first_stage_model.*</c> (prefix removed) when present,
    /// converts diffusers names when detected, otherwise returns the keys as they are. Tensors are shared, except the
    /// reshaped attention weights.
    /// </summary>
    public static Dictionary<string, Tensor> ToLdm(IReadOnlyDictionary<string, Tensor> source, AutoencoderKLConfig config)
    {
        const string sd = "first_stage_model.";
        IReadOnlyDictionary<string, Tensor> keys = source.Keys.Any(k => k.StartsWith(sd, StringComparison.Ordinal))
            ? source.Where(kv => kv.Key.StartsWith(sd, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[sd.Length..], kv => kv.Value)
            : source;
        return keys.Keys.Any(k => DiffusersMarker().IsMatch(k)) ? FromDiffusers(keys, config) : keys.ToDictionary();
    }

    /// <summary>Our (LDM) state dict under diffusers names, attention weights as [C, C].</summary>
    public static Dictionary<string, Tensor> ToDiffusers(IReadOnlyDictionary<string, Tensor> ldm, AutoencoderKLConfig config, bool legacyAttentionNames = false)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, t) in ldm)
        {
            var name = ToDiffusersName(key, config.Levels, legacyAttentionNames);
            result[name] = IsAttentionProjection(key) && t.dim() == 4 ? t.view(t.shape[0], t.shape[1]) : t;
        }
        return result;
    }

    /// <summary>A diffusers state dict under LDM names, attention weights as [C, C, 1, 1].</summary>
    public static Dictionary<string, Tensor> FromDiffusers(IReadOnlyDictionary<string, Tensor> diffusers, AutoencoderKLConfig config)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, t) in diffusers)
        {
            var name = FromDiffusersName(key, config.Levels);
            if (!result.TryAdd(name, IsAttentionProjection(name) && t.dim() == 2 ? t.view(t.shape[0], t.shape[1], 1, 1) : t))
                throw new InvalidDataException($"diffusers keys map twice to '{name}' (second: '{key}')");
        }
        return result;
    }

    public static string ToDiffusersName(string key, int levels, bool legacyAttentionNames = false)
    {
        string Res(string rest) => rest.StartsWith("nin_shortcut.", StringComparison.Ordinal) ? "conv_shortcut." + rest["nin_shortcut.".Length..] : rest;
        string Attn(string rest)
        {
            var dot = rest.IndexOf('.');
            var part = rest[..dot];
            var renamed = part switch
            {
                "norm" => "group_norm",
                "q" => legacyAttentionNames ? "query" : "to_q",
                "k" => legacyAttentionNames ? "key" : "to_k",
                "v" => legacyAttentionNames ? "value" : "to_v",
                "proj_out" => legacyAttentionNames ? "proj_attn" : "to_out.0",
                _ => part,
            };
            return renamed + rest[dot..];
        }
        int Up(string i) => levels - 1 - int.Parse(i);

        Match m;
        if ((m = LdmMidBlock().Match(key)).Success) return $"{m.Groups[1]}.mid_block.resnets.{int.Parse(m.Groups[2].Value) - 1}.{Res(m.Groups[3].Value)}";
        if ((m = LdmMidAttn().Match(key)).Success) return $"{m.Groups[1]}.mid_block.attentions.0.{Attn(m.Groups[2].Value)}";
        if ((m = LdmLevel().Match(key)).Success)
        {
            var (part, level, kind, rest) = (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value);
            var prefix = part == "encoder" ? $"encoder.down_blocks.{level}" : $"decoder.up_blocks.{Up(level)}";
            var dot = rest.IndexOf('.');
            return kind switch
            {
                "block" => $"{prefix}.resnets.{rest[..dot]}.{Res(rest[(dot + 1)..])}",
                "attn" => $"{prefix}.attentions.{rest[..dot]}.{Attn(rest[(dot + 1)..])}",
                "downsample" => $"{prefix}.downsamplers.0.{rest}",
                _ => $"{prefix}.upsamplers.0.{rest}",
            };
        }
        if ((m = LdmNormOut().Match(key)).Success) return $"{m.Groups[1]}.conv_norm_out.{m.Groups[2]}";
        return key;
    }

    public static string FromDiffusersName(string key, int levels)
    {
        string Res(string rest) => rest.StartsWith("conv_shortcut.", StringComparison.Ordinal) ? "nin_shortcut." + rest["conv_shortcut.".Length..] : rest;
        string Attn(string rest)
        {
            foreach (var (from, to) in AttentionNames)
                if (rest.StartsWith(from, StringComparison.Ordinal)) return to + rest[from.Length..];
            return rest;
        }
        int Up(string i) => levels - 1 - int.Parse(i);

        Match m;
        if ((m = DiffusersMidBlock().Match(key)).Success) return $"{m.Groups[1]}.mid.block_{int.Parse(m.Groups[2].Value) + 1}.{Res(m.Groups[3].Value)}";
        if ((m = DiffusersMidAttn().Match(key)).Success) return $"{m.Groups[1]}.mid.attn_1.{Attn(m.Groups[2].Value)}";
        if ((m = DiffusersLevel().Match(key)).Success)
        {
            var (blocks, level, kind, index, rest) = (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value, m.Groups[5].Value);
            var prefix = blocks == "encoder.down_blocks" ? $"encoder.down.{level}" : $"decoder.up.{Up(level)}";
            return kind switch
            {
                "resnets" => $"{prefix}.block.{index}.{Res(rest)}",
                "attentions" => $"{prefix}.attn.{index}.{Attn(rest)}",
                "downsamplers" => $"{prefix}.downsample.{rest}",
                _ => $"{prefix}.upsample.{rest}",
            };
        }
        if ((m = DiffusersNormOut().Match(key)).Success) return $"{m.Groups[1]}.norm_out.{m.Groups[2]}";
        return key;
    }

    private static readonly (string From, string To)[] AttentionNames =
    [
        ("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out."),
        ("query.", "q."), ("key.", "k."), ("value.", "v."), ("proj_attn.", "proj_out."),
    ];

    private static bool IsAttentionProjection(string ldmKey) => AttentionWeight().IsMatch(ldmKey);

    [GeneratedRegex(@"(^|\.)(down_blocks|up_blocks|mid_block|conv_norm_out)\.")]
    private static partial Regex DiffusersMarker();

    [GeneratedRegex(@"(\.attn_1\.|\.attn\.\d+\.)(q|k|v|proj_out)\.weight$")]
    private static partial Regex AttentionWeight();

    [GeneratedRegex(@"^(encoder|decoder)\.mid\.block_([12])\.(.+)$")]
    private static partial Regex LdmMidBlock();

    [GeneratedRegex(@"^(encoder|decoder)\.mid\.attn_1\.(.+)$")]
    private static partial Regex LdmMidAttn();

    [GeneratedRegex(@"^(encoder|decoder)\.(?:down|up)\.(\d+)\.(block|attn|downsample|upsample)\.(.+)$")]
    private static partial Regex LdmLevel();

    [GeneratedRegex(@"^(encoder|decoder)\.norm_out\.(.+)$")]
    private static partial Regex LdmNormOut();

    [GeneratedRegex(@"^(encoder|decoder)\.mid_block\.resnets\.([01])\.(.+)$")]
    private static partial Regex DiffusersMidBlock();

    [GeneratedRegex(@"^(encoder|decoder)\.mid_block\.attentions\.0\.(.+)$")]
    private static partial Regex DiffusersMidAttn();

    [GeneratedRegex(@"^(encoder\.down_blocks|decoder\.up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$")]
    private static partial Regex DiffusersLevel();

    [GeneratedRegex(@"^(encoder|decoder)\.conv_norm_out\.(.+)$")]
    private static partial Regex DiffusersNormOut();
}
