using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

/// <summary>Finding the files of an upstream artifact by the naming conventions of the paper's stages.</summary>
public static class ArtifactFiles
{
    /// <summary>Local paths of the artifact's files under <paramref name="folder"/> whose names start with
    /// <paramref name="namePrefix"/> and end in <paramref name="suffix"/>, in name order.</summary>
    public static async Task<IReadOnlyList<string>> PathsAsync(this InputArtifact artifact, string folder, string suffix = ".parquet", CancellationToken ct = default,
        string namePrefix = "")
    {
        var prefix = folder.TrimEnd('/') + "/" + namePrefix;
        var names = artifact.Manifest.Files.Select(f => f.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(suffix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
            throw new InvalidDataException($"input {artifact.NodeId} ({artifact.Fingerprint[..12]}) has no '{prefix}*{suffix}' files; it has: " +
                                           string.Join(", ", artifact.Manifest.Files.Select(f => f.Name).Take(20)));
        var paths = new List<string>();
        foreach (var n in names) paths.Add(await artifact.GetPathAsync(n, ct));
        return paths;
    }
}
