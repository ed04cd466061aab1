namespace Fusion.Workflow.Stages;

/// <summary>
/// A string param whose pipeline value names a file (relative to the pipeline file that sets it, or to the working
/// directory for <c>-p</c>): the loader reads the file and the param's value is its text. So the fingerprint sees every
/// byte of it, and a worker elsewhere gets the content, not a path it may not have. Null leaves it unset.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = true)]
public sealed class ParamFileAttribute : Attribute
{
    /// <summary>Files above this size are refused: a param is hashed and shipped with every node.</summary>
    public const long MaxBytes = 1 << 20;
}
