using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Modeling;

/// <summary>
/// The fusion variant a U-ViT param names: in pipelines early-concat, early-cross, intermediate-concat or
/// intermediate-cross (an enum, so the loader rejects anything else by name; c and v are params of their own).
/// </summary>
public enum FusionVariant { EarlyConcat, EarlyCross, IntermediateConcat, IntermediateCross }

/// <summary>The pipeline names of <see cref="FusionVariant"/>.</summary>
public static class FusionVariants
{
    /// <summary>"early-concat", …: the name pipelines and canonical params use.</summary>
    public static string Name(this FusionVariant variant) => ParamSchema.Kebab(variant.ToString());

    /// <summary>The variant a name gives (case aside), or a <see cref="FormatException"/> listing the names.</summary>
    public static FusionVariant Parse(string name) =>
        Enum.GetValues<FusionVariant>().Where(v => string.Equals(v.Name(), name, StringComparison.OrdinalIgnoreCase)).Select(v => (FusionVariant?)v).FirstOrDefault()
        ?? throw new FormatException($"unknown fusion variant '{name}' (expected {string.Join(", ", Enum.GetValues<FusionVariant>().Select(Name))})");
}
