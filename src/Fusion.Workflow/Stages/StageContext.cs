using Fusion.Artifacts.Store;
using Microsoft.Extensions.Logging;

namespace Fusion.Workflow.Stages;

/// <summary>
/// A committed upstream artifact as a stage reads it. <see cref="Recipe"/>: the upstream node's recipe fingerprint
/// (its fingerprint without training seed and machine; null where the engine did not compute it).
/// </summary>
public sealed class InputArtifact(string nodeId, Manifest manifest, IArtifactStore store, string? recipe = null)
{
    public string NodeId => nodeId;
    public string? Recipe => recipe;
    public string Fingerprint => manifest.Fingerprint;
    public Manifest Manifest => manifest;

    /// <summary>
    /// A local, read-only path of one of its files, whose bytes match the manifest (size and SHA-256). Throws
    /// <see cref="DamagedInputException"/> when they do not.
    /// </summary>
    public async Task<string> GetPathAsync(string fileName, CancellationToken ct = default)
    {
        try { return await store.GetLocalPathAsync(manifest, fileName, ct); }
        catch (ArtifactCorruptException e) when (e is not DamagedInputException) { throw new DamagedInputException(nodeId, manifest.Fingerprint, fileName, e); }
    }
}

/// <summary>Everything a running stage gets from the engine.</summary>
public sealed class StageContext
{
    public required string NodeId { get; init; }

    /// <summary>The variant name for nodes expanded from a <c>variants</c> matrix, else null.</summary>
    public string? Variant { get; init; }

    public required string Fingerprint { get; init; }

    /// <summary>Upstream artifacts by declared input name (one entry per upstream node, in pipeline order).</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<InputArtifact>> Inputs { get; init; }

    /// <summary>Private folder for the outputs; committed atomically when the stage returns.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>
    /// Durable folder for the stage's own checkpoints, keyed by its fingerprint: a rerun after a crash or Ctrl-C
    /// finds what the previous attempt left. Write checkpoints atomically (temp file + rename). Deleted after commit.
    /// </summary>
    public required string ScratchDirectory { get; init; }

    public required IStageProgress Progress { get; init; }
    public required ILogger Logger { get; init; }

    /// <summary>Cancelled on Ctrl-C / SIGTERM: save a checkpoint into the scratch folder and throw OperationCanceledException.</summary>
    public required CancellationToken CancellationToken { get; init; }

    public required EnvironmentFacts Environment { get; init; }

    /// <summary>Small key/value results (e.g. final loss) recorded in the manifest and shown by `status`.</summary>
    public IDictionary<string, string> Summary { get; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The single upstream artifact of input <paramref name="name"/>.</summary>
    public InputArtifact Input(string name) =>
        Inputs.TryGetValue(name, out var list) && list.Count == 1 ? list[0]
        : throw new InvalidOperationException($"node {NodeId}: input '{name}' has {(Inputs.TryGetValue(name, out var l) ? l.Count : 0)} artifacts, expected one");

    /// <summary>Path of one output file (its folder is created).</summary>
    public string OutputPath(string relative)
    {
        var path = Path.Combine(OutputDirectory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}

/// <summary>Progress of a running stage: the CLI shows a bar with it/s and ETA.</summary>
public interface IStageProgress
{
    /// <summary>Reports <paramref name="current"/> of <paramref name="total"/> <paramref name="unit"/>s done (e.g. 1200 of 50000 "step").</summary>
    void Report(long current, long total, string unit = "it");
}

/// <summary>A progress sink that ignores reports.</summary>
public sealed class NoProgress : IStageProgress
{
    public static readonly NoProgress Instance = new();
    public void Report(long current, long total, string unit = "it") { }
}
