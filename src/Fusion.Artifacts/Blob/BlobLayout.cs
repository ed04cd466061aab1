namespace Fusion.Artifacts.Blob;

/// <summary>
/// Blob names of a store, below its prefix. Files are content-addressed inside their artifact, so two committers of
/// one fingerprint whose bytes differ never overwrite each other's files; only the create-only manifest decides.
/// <code>
/// manifests/FP.json               the commit marker and file list (written last, create-only)
/// artifacts/FP/SHA256/NAME        a committed file
/// claims/FP                       an empty blob whose lease is the node claim
/// documents/PATH                  small documents (ledger, index, pins)
/// </code>
/// </summary>
public static class BlobLayout
{
    public const string ManifestFolder = "manifests/";
    public const string ArtifactFolder = "artifacts/";
    public const string ClaimFolder = "claims/";
    public const string DocumentFolder = "documents/";

    public static string Manifest(string fingerprint) => $"{ManifestFolder}{fingerprint}.json";
    public static string ArtifactPrefix(string fingerprint) => $"{ArtifactFolder}{fingerprint}/";
    public static string File(string fingerprint, string sha256, string name) => $"{ArtifactFolder}{fingerprint}/{sha256}/{name}";
    public static string Claim(string fingerprint) => $"{ClaimFolder}{fingerprint}";
    public static string Document(string path) => DocumentFolder + path;
}
