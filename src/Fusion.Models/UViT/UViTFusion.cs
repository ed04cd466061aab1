using System.Globalization;
using System.Text.RegularExpressions;

namespace Fusion.Models.UViT;

/// <summary>Where text enters the image path.</summary>
public enum FusionStage { Early, Intermediate }

/// <summary>How text tokens condition the image tokens.</summary>
public enum FusionMethod
{
    /// <summary>Text tokens join the sequence; every block runs joint self-attention and updates them.</summary>
    Concat,
    /// <summary>Image+time tokens query [image+time; text]; text tokens are keys/values only and never updated.</summary>
    Cross,
}

/// <summary>
/// One of the paper's four fusion variants, each equal to a file of the authors' code (zizhao-hu/U-ViT):
/// <list type="bullet">
/// <item><c>early-concat</c>: <c>libs/uvit_t2i_old.py</c> (original U-ViT; tokens [time | text | patches]).</item>
/// <item><c>early-cross</c>: <c>libs/uvit_t2i_cross.py</c> with c = v = 0.</item>
/// <item><c>intermediate-concat(c=C,v=V)</c>: <c>libs/uvit_t2i.py</c>.</item>
/// <item><c>intermediate-cross(c=C,v=V)</c>: <c>libs/uvit_t2i_cross.py</c>.</item>
/// </list>
/// <see cref="TextBlocks"/> (c) are extra text-only blocks applied to the projected caption before fusion;
/// <see cref="ImageOnlyBlocks"/> (v) are the image-only blocks at each end of the U. Early variants have c = v = 0.
/// </summary>
public readonly record struct UViTFusion
{
    public FusionStage Stage { get; }
    public FusionMethod Method { get; }
    /// <summary>c: text-only blocks before fusion (intermediate variants).</summary>
    public int TextBlocks { get; }
    /// <summary>v: image-only blocks at each end (intermediate variants).</summary>
    public int ImageOnlyBlocks { get; }

    public UViTFusion(FusionStage stage, FusionMethod method, int textBlocks = 0, int imageOnlyBlocks = 0)
    {
        if (textBlocks < 0 || imageOnlyBlocks < 0)
            throw new ArgumentOutOfRangeException(nameof(textBlocks), $"c and v must be ≥ 0 (got c={textBlocks}, v={imageOnlyBlocks})");
        if (stage == FusionStage.Early && (textBlocks != 0 || imageOnlyBlocks != 0))
            throw new ArgumentException($"early fusion has no text-only or image-only blocks (got c={textBlocks}, v={imageOnlyBlocks})");
        (Stage, Method, TextBlocks, ImageOnlyBlocks) = (stage, method, textBlocks, imageOnlyBlocks);
    }

    /// <summary>The authors' committed intermediate configuration (configs/mscoco_uvit_small.py): c = 3, v = 3.</summary>
    public const int DefaultC = 3, DefaultV = 3;

    public static UViTFusion EarlyConcat => new(FusionStage.Early, FusionMethod.Concat);
    public static UViTFusion EarlyCross => new(FusionStage.Early, FusionMethod.Cross);
    public static UViTFusion IntermediateConcat(int c = DefaultC, int v = DefaultV) => new(FusionStage.Intermediate, FusionMethod.Concat, c, v);
    public static UViTFusion IntermediateCross(int c = DefaultC, int v = DefaultV) => new(FusionStage.Intermediate, FusionMethod.Cross, c, v);

    /// <summary>The four variants of the paper's 2×2 design at the committed c = v = 3.</summary>
    public static IReadOnlyList<UViTFusion> All => [EarlyConcat, EarlyCross, IntermediateConcat(), IntermediateCross()];

    /// <summary>"early-concat", "early-cross" or "intermediate-concat" / "intermediate-cross" (no c, v).</summary>
    public string Family => $"{(Stage == FusionStage.Early ? "early" : "intermediate")}-{(Method == FusionMethod.Concat ? "concat" : "cross")}";

    /// <summary>Canonical name: "early-concat", "early-cross", "intermediate-concat(c=3,v=3)", "intermediate-cross(c=1,v=4)".</summary>
    public override string ToString() =>
        Stage == FusionStage.Early ? Family : $"{Family}(c={TextBlocks},v={ImageOnlyBlocks})";

    private static readonly Regex Syntax = new(
        @"^\s*(early|intermediate)-(concat|cross)\s*(?:\(\s*(?:c\s*=\s*)?(\d+)\s*,\s*(?:v\s*=\s*)?(\d+)\s*\))?\s*$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>
    /// Parses a variant name: "early-concat", "early-cross", "intermediate-concat" (c = v = 3),
    /// "intermediate-cross(1,4)" or "intermediate-cross(c=1,v=4)".
    /// </summary>
    public static UViTFusion Parse(string text)
    {
        var m = Syntax.Match(text ?? "");
        if (!m.Success)
            throw new FormatException($"unknown U-ViT fusion variant '{text}' (expected early-concat, early-cross, " +
                                      "intermediate-concat[(c,v)] or intermediate-cross[(c,v)])");
        var stage = m.Groups[1].Value.Equals("early", StringComparison.OrdinalIgnoreCase) ? FusionStage.Early : FusionStage.Intermediate;
        var method = m.Groups[2].Value.Equals("concat", StringComparison.OrdinalIgnoreCase) ? FusionMethod.Concat : FusionMethod.Cross;
        if (!m.Groups[3].Success)
            return stage == FusionStage.Early ? new(stage, method) : new(stage, method, DefaultC, DefaultV);
        int c = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), v = int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture);
        if (stage == FusionStage.Early && (c != 0 || v != 0))
            throw new FormatException($"'{text}': early fusion has no text-only or image-only blocks; use intermediate-…(c,v)");
        return new(stage, method, c, v);
    }
}
