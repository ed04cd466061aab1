namespace Fusion.Artifacts.Store;

/// <summary>One committed file of an artifact.</summary>
public sealed record ArtifactFile(string Name, long Size, string Sha256);

/// <summary>What the engine knows of a node when it commits (the store adds the file list).</summary>
public sealed record ManifestInfo(
    string NodeId,
    string Kind,
    string CodeVersion,
    /// <summary>The fingerprint's parts, so `plan` can say which one changed.</summary>
    IReadOnlyDictionary<string, string> FingerprintParts,
    DateTimeOffset StartedUtc,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, string>? Summary = null);

/// <summary>
/// The committed description of an artifact: names, sizes and SHA-256 of its files and the fingerprint that produced
/// it. Written last; its presence is what makes an artifact exist. <paramref name="UploadId"/> is the commit attempt
/// whose files the manifest lists, for stores that keep each attempt's files apart (blob stores; null otherwise).
/// </summary>
public sealed record Manifest(
    string Fingerprint,
    ManifestInfo Info,
    IReadOnlyList<ArtifactFile> Files,
    DateTimeOffset CommittedUtc,
    string? UploadId = null)
{
    public ArtifactFile File(string name) =>
        Files.FirstOrDefault(f => f.Name == name)
        ?? throw new KeyNotFoundException($"artifact {Fingerprint[..12]} ({Info.NodeId}) has no file '{name}'");

    public long TotalBytes => Files.Sum(f => f.Size);
}

/// <summary>Result of looking up a manifest: found, absent, or present but broken (with the reason).</summary>
public sealed record ManifestLookup(Manifest? Manifest, string? Problem)
{
    public static readonly ManifestLookup Absent = new(null, null);
    public bool Found => Manifest is not null;
}

/// <summary>A private local folder that a node writes its outputs into before the engine commits them.</summary>
public sealed record StagingArea(string Fingerprint, string Directory);

/// <summary>A committed file whose bytes differ from its manifest (size or SHA-256).</summary>
public class ArtifactCorruptException(string message, Exception? inner = null) : IOException(message, inner);
