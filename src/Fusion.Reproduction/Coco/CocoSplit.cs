using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Coco;

/// <summary>
/// A split of a <c>coco-download</c> artifact: train or val in pipelines (an enum, so the loader rejects any other
/// name; its canonical form is that lower-case string, which is also its folder).
/// </summary>
public enum CocoSplit { Train, Val }

public static class CocoSplits
{
    /// <summary>"train" or "val": the name pipelines use and the artifact's folder.</summary>
    public static string Name(this CocoSplit split) => ParamSchema.Kebab(split.ToString());
}
