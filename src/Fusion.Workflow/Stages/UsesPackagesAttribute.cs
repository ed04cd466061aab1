namespace Fusion.Workflow.Stages;

/// <summary>
/// The NuGet packages whose code computes a stage's output bytes (a Parquet writer, an image decoder, a plot renderer),
/// by package id. Their resolved versions, and those of every package they depend on, enter the stage's fingerprint,
/// so a package bump reruns exactly the stages it can change. Torch needs no entry: its versions are environment facts.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class UsesPackagesAttribute(params string[] ids) : Attribute
{
    public IReadOnlyList<string> Ids { get; } = ids;
}
