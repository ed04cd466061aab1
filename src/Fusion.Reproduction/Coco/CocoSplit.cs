namespace Fusion.Reproduction.Coco;

/// <summary>
/// A split of a <c>coco-download</c> artifact: train or val in pipelines (an enum, so the loader rejects any other
/// name; its canonical form is that lower-case string). <c>ParamSchema.Kebab(split.ToString())</c> is its folder.
/// </summary>
public enum CocoSplit { Train, Val }
