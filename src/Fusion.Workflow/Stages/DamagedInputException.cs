using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Stages;

/// <summary>
/// A stage asked for a file of an input whose bytes differ from the input's manifest (missing, resized or of another
/// SHA-256), so it was not handed out. Names the upstream node and artifact that wrote it: the engine recomputes that
/// node and runs the stage again.
/// </summary>
public sealed class DamagedInputException(string nodeId, string fingerprint, string fileName, ArtifactCorruptException inner)
    : ArtifactCorruptException($"damaged input: {inner.Message}", inner)
{
    public string NodeId => nodeId;
    public string Fingerprint => fingerprint;
    public string FileName => fileName;

    /// <summary>The damaged input that <paramref name="e"/> is, or wraps; null when there is none.</summary>
    public static DamagedInputException? In(Exception? e) => e switch
    {
        null => null,
        DamagedInputException damaged => damaged,
        AggregateException all => all.InnerExceptions.Select(In).FirstOrDefault(d => d is not null),
        _ => In(e.InnerException),
    };
}
